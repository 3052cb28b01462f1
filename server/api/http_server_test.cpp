// HttpServer's upload routes over a real socket, with the spooled body written through a
// FaultyFileSystem: a disk that fills during the body answers 507 insufficient_storage (never
// 400), leaves no spool file, and the next upload is stored whole.
#include "server/api/http_server.hpp"

#include <chrono>
#include <filesystem>
#include <thread>

#include <catch2/catch.hpp>

#include "common/file_util.hpp"
#include "common/test_support.hpp"

namespace parley {

namespace {

namespace fs = std::filesystem;

// Sends one POST of `body` to 127.0.0.1:`port` and returns the response.
HttpResponse post(unsigned short port, const std::string& target, const std::string& body) {
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    HttpRequest req{http::verb::post, target, 11};
    req.set(http::field::host, "localhost");
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    HttpResponse res;
    http::read(stream, buffer, res);
    return res;
}

// Whether `dir` becomes empty within two seconds (the server removes a spool file once the
// response is on its way).
bool becomes_empty(const fs::path& dir) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!fs::is_empty(dir)) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

}  // namespace

TEST_CASE("a full disk during an upload answers 507 and leaves no spool file",
          "[server][api][file_system]") {
    test::TempDir spool("http-spool");
    ServerConfig config;
    config.port = 0;
    // The route answers the size of the file it was handed.
    Router router;
    router.add_upload(
        http::verb::post, "/upload",
        [](RequestContext& ctx) -> awaitable<HttpResponse> {
            std::string bytes;
            if (auto ec = read_file(ctx.body_file, bytes))
                co_return error_response(http::status::internal_server_error, "internal", "");
            co_return json_response(http::status::ok, {{"bytes", bytes.size()}});
        },
        1 << 20, spool.path().string());
    net::io_context ioc;
    FaultyFileSystem disk;
    HttpServer server(ioc, config, router);
    server.set_file_system(disk);
    REQUIRE_FALSE(server.listen());
    server.start();
    std::thread loop([&] { ioc.run(); });

    const std::string body(20000, 'x');
    disk.fill_disk_after(5000);
    HttpResponse full = post(server.port(), "/upload", body);
    CHECK(full.result() == http::status::insufficient_storage);
    CHECK(nlohmann::json::parse(full.body())["error"] == "insufficient_storage");
    CHECK(disk.injected() >= 1);
    CHECK(becomes_empty(spool.path()));

    disk.fill_disk_after(-1);
    HttpResponse stored = post(server.port(), "/upload", body);
    CHECK(stored.result() == http::status::ok);
    CHECK(nlohmann::json::parse(stored.body())["bytes"] == body.size());
    CHECK(becomes_empty(spool.path()));

    test::Signal drained;
    net::post(ioc, [&] { server.stop([&] { drained.set(); }); });
    CHECK(drained.wait());
    ioc.stop();
    loop.join();
}

}  // namespace parley
