#include "common/executor_as.hpp"

#include <catch2/catch.hpp>

namespace parley {
namespace {

using Plain = net::io_context::executor_type;
using Strand = net::strand<Plain>;

TEST_CASE("executor_as tells a strand from the context's own executor") {
    net::io_context context;
    const net::any_io_executor plain = context.get_executor();
    const net::any_io_executor strand = net::make_strand(context);
    const net::any_io_executor none;

    REQUIRE(executor_as<Plain>(plain) != nullptr);
    CHECK(*executor_as<Plain>(plain) == context.get_executor());
    CHECK(executor_as<Strand>(plain) == nullptr);

    REQUIRE(executor_as<Strand>(strand) != nullptr);
    CHECK(executor_as<Plain>(strand) == nullptr);

    CHECK(executor_as<Plain>(none) == nullptr);
    CHECK(executor_as<Strand>(none) == nullptr);
}

TEST_CASE("executor_as's executors know the thread that runs them") {
    net::io_context context;
    const net::any_io_executor plain = context.get_executor();
    const net::any_io_executor strand = net::make_strand(context);
    CHECK_FALSE(executor_as<Plain>(plain)->running_in_this_thread());
    bool in_plain = false;
    bool in_strand = false;
    bool strand_outside = true;
    net::post(plain, [&] {
        in_plain = executor_as<Plain>(plain)->running_in_this_thread();
        strand_outside = executor_as<Strand>(strand)->running_in_this_thread();
    });
    net::post(strand, [&] { in_strand = executor_as<Strand>(strand)->running_in_this_thread(); });
    context.run();
    CHECK(in_plain);
    CHECK(in_strand);
    CHECK_FALSE(strand_outside);
}

}  // namespace
}  // namespace parley
