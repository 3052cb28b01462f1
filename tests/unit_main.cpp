// Entry point of the Catch2 unit test binary; the tests live beside the code (*_test.cpp).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
