# FindOniguruma: the Oniguruma regex library (Debian: libonig-dev), used by dsv2::text.
#   find_package(Oniguruma [version] [REQUIRED])
# Result: Oniguruma_FOUND, Oniguruma_VERSION, Oniguruma_INCLUDE_DIR, Oniguruma_LIBRARY and the
# imported target Oniguruma::Oniguruma. Tries pkg-config (module 'oniguruma') for hints, then
# find_path/find_library, so it also works without pkg-config.
include(FindPackageHandleStandardArgs)

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_Oniguruma QUIET oniguruma)
endif()

find_path(Oniguruma_INCLUDE_DIR NAMES oniguruma.h HINTS ${PC_Oniguruma_INCLUDEDIR} ${PC_Oniguruma_INCLUDE_DIRS})
find_library(Oniguruma_LIBRARY NAMES onig HINTS ${PC_Oniguruma_LIBDIR} ${PC_Oniguruma_LIBRARY_DIRS})

if(Oniguruma_INCLUDE_DIR AND EXISTS "${Oniguruma_INCLUDE_DIR}/oniguruma.h")
  file(STRINGS "${Oniguruma_INCLUDE_DIR}/oniguruma.h" _onig_version_lines
       REGEX "^#define ONIGURUMA_VERSION_(MAJOR|MINOR|TEENY) +[0-9]+")
  foreach(_part MAJOR MINOR TEENY)
    string(REGEX REPLACE ".*ONIGURUMA_VERSION_${_part} +([0-9]+).*" "\\1" _onig_${_part} "${_onig_version_lines}")
  endforeach()
  set(Oniguruma_VERSION "${_onig_MAJOR}.${_onig_MINOR}.${_onig_TEENY}")
  unset(_onig_version_lines)
endif()

find_package_handle_standard_args(Oniguruma
  REQUIRED_VARS Oniguruma_LIBRARY Oniguruma_INCLUDE_DIR
  VERSION_VAR Oniguruma_VERSION)

if(Oniguruma_FOUND AND NOT TARGET Oniguruma::Oniguruma)
  add_library(Oniguruma::Oniguruma UNKNOWN IMPORTED)
  set_target_properties(Oniguruma::Oniguruma PROPERTIES
    IMPORTED_LOCATION "${Oniguruma_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Oniguruma_INCLUDE_DIR}")
endif()
mark_as_advanced(Oniguruma_INCLUDE_DIR Oniguruma_LIBRARY)
