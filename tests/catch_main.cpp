// The one Catch2 v2 main shared by all dsv2 test executables.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
