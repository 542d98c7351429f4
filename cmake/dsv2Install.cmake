# Install rules and the exported CMake package: find_package(dsv2 CONFIG REQUIRED) -> dsv2::dsv2.
# Layout: <prefix>/include/dsv2/..., <prefix>/share/dsv2/cmake/dsv2{Config,ConfigVersion,Targets}.cmake
include_guard(GLOBAL)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(DSV2_INSTALL_CMAKEDIR "${CMAKE_INSTALL_DATADIR}/dsv2/cmake" CACHE STRING
    "Where the dsv2 CMake package files are installed, relative to the prefix")

install(TARGETS dsv2 EXPORT dsv2Targets)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/dsv2" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h" PATTERN "*.cuh")
install(EXPORT dsv2Targets NAMESPACE dsv2:: DESTINATION "${DSV2_INSTALL_CMAKEDIR}")
# The optional component 'text' (dsv2::text, needs Oniguruma): its own export set, loaded by
# find_package(dsv2 COMPONENTS text), which finds Oniguruma through the installed FindOniguruma.
set(DSV2_PACKAGE_HAS_TEXT OFF)
if(TARGET dsv2_text)
  set(DSV2_PACKAGE_HAS_TEXT ON)
  install(TARGETS dsv2_text EXPORT dsv2TextTargets)
  install(EXPORT dsv2TextTargets NAMESPACE dsv2:: DESTINATION "${DSV2_INSTALL_CMAKEDIR}")
  install(FILES "${PROJECT_SOURCE_DIR}/cmake/FindOniguruma.cmake" DESTINATION "${DSV2_INSTALL_CMAKEDIR}")
endif()
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/dsv2Config.cmake.in"
  "${PROJECT_BINARY_DIR}/dsv2Config.cmake"
  INSTALL_DESTINATION "${DSV2_INSTALL_CMAKEDIR}")
# Header-only: the package fits any architecture. 0.x: only the same minor version is compatible.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/dsv2ConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/dsv2Config.cmake" "${PROJECT_BINARY_DIR}/dsv2ConfigVersion.cmake"
              "${PROJECT_SOURCE_DIR}/cmake/dsv2CudaCxx20.cmake"
        DESTINATION "${DSV2_INSTALL_CMAKEDIR}")
