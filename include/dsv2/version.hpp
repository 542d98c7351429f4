// dsv2 version: the single place where it is defined. CMake reads the three DSV2_VERSION_* lines.
#pragma once

#define DSV2_VERSION_MAJOR 0
#define DSV2_VERSION_MINOR 1
#define DSV2_VERSION_PATCH 0

#define DSV2_DETAIL_STR2(x) #x
#define DSV2_DETAIL_STR(x) DSV2_DETAIL_STR2(x)
#define DSV2_VERSION_STRING \
    DSV2_DETAIL_STR(DSV2_VERSION_MAJOR) "." DSV2_DETAIL_STR(DSV2_VERSION_MINOR) "." DSV2_DETAIL_STR(DSV2_VERSION_PATCH)

namespace dsv2 {
inline constexpr int version_major = DSV2_VERSION_MAJOR;
inline constexpr int version_minor = DSV2_VERSION_MINOR;
inline constexpr int version_patch = DSV2_VERSION_PATCH;
inline constexpr const char* version_string = DSV2_VERSION_STRING;
}  // namespace dsv2
