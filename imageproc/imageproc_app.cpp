#include "imageproc/imageproc_app.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "common/child_frame.hpp"
#include "common/imageproc_protocol.hpp"
#include "imageproc/image_pipeline.hpp"

#include <vips/vips.h>

namespace parley {

namespace {

bool set_limit(int resource, rlim_t value, const char* name) {
    struct rlimit rl {
        value, value
    };
    if (::setrlimit(resource, &rl) != 0) {
        spdlog::error("setrlimit({}) failed: {}", name, std::strerror(errno));
        return false;
    }
    return true;
}

// AddressSanitizer reserves terabytes of shadow address space, which no RLIMIT_AS allows: in a
// sanitizer build (make test-asan) the address-space limit is left out, and said so.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

bool limit_address_space(const ImageprocConfig& config) {
    if (kAddressSanitizer) {
        spdlog::warn("AddressSanitizer build: RLIMIT_AS ({} MiB) not applied",
                     config.memory_limit_mb);
        return true;
    }
    return set_limit(RLIMIT_AS, static_cast<rlim_t>(config.memory_limit_mb) * 1024 * 1024,
                     "RLIMIT_AS");
}

// Limits the child's own memory, CPU time, file sizes and descriptors; no core dumps.
bool apply_limits(const ImageprocConfig& config) {
    return limit_address_space(config) &&
           set_limit(RLIMIT_CPU, static_cast<rlim_t>(config.cpu_limit_seconds), "RLIMIT_CPU") &&
           set_limit(RLIMIT_FSIZE, static_cast<rlim_t>(config.max_output_mb) * 1024 * 1024,
                     "RLIMIT_FSIZE") &&
           set_limit(RLIMIT_NOFILE, 64, "RLIMIT_NOFILE") &&
           set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE");
}

// Answers leave through one writer at a time; a frame is written whole.
class Output {
  public:
    bool write(ChildFrameType type, const std::string& payload) {
        std::string frame = encode_child_frame(type, payload);
        std::lock_guard lock(mutex_);
        std::size_t done = 0;
        while (done < frame.size()) {
            ssize_t n = ::write(STDOUT_FILENO, frame.data() + done, frame.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                return false;
            }
            done += static_cast<std::size_t>(n);
        }
        return true;
    }

  private:
    std::mutex mutex_;
};

class WorkQueue {
  public:
    void push(ImageRequest r) {
        {
            std::lock_guard lock(mutex_);
            queue_.push_back(std::move(r));
        }
        cv_.notify_one();
    }
    void close() {
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
        }
        cv_.notify_all();
    }
    bool pop(ImageRequest& out) {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return closed_ || !queue_.empty(); });
        if (queue_.empty()) return false;
        out = std::move(queue_.front());
        queue_.pop_front();
        return true;
    }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<ImageRequest> queue_;
    bool closed_ = false;
};

void worker(WorkQueue& queue, Output& out) {
    ImageRequest req;
    while (queue.pop(req)) {
        ImageResponse res = process_image(req);
        if (res.ok) {
            spdlog::info("request {}: {} -> {}x{} and {}x{} in {:.0f} ms", res.id, res.format,
                         res.width, res.height, res.thumb_width, res.thumb_height, res.millis);
        } else {
            spdlog::info("request {}: refused ({}): {}", res.id, res.error, res.message);
        }
        if (!out.write(ChildFrameType::response, encode_image_response(res))) {
            spdlog::error("writing an answer failed: {}; exiting", std::strerror(errno));
            std::_Exit(1);
        }
    }
}

bool under(const std::string& path, const std::string& dir) {
    return path.size() > dir.size() + 1 && path.compare(0, dir.size(), dir) == 0 &&
           path[dir.size()] == '/';
}

// The id of a request whose other fields are bad, so its answer can name it.
std::optional<std::uint64_t> request_id(const std::string& payload) {
    auto j = nlohmann::json::parse(payload, nullptr, false);
    if (j.is_object() && j.contains("id") && j["id"].is_number_unsigned())
        return j["id"].get<std::uint64_t>();
    return std::nullopt;
}

}  // namespace

int run_imageproc(const ImageprocConfig& config) {
    // Die with the server, and hold no descriptor but stdin, stdout and stderr.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::close_range(3, ~0U, 0);
    if (!apply_limits(config)) return 1;
    if (!init_image_pipeline("parley", config.vips_threads)) {
        spdlog::critical("libvips failed to start");
        return 1;
    }
    spdlog::info("parley imageproc started: pid {}, {} workers, max {} pixels, {} MiB, {} s CPU",
                 ::getpid(), config.workers, config.max_pixels, config.memory_limit_mb,
                 config.cpu_limit_seconds);

    // Requests may name files under <data>/media/ only (validated paths have no "..").
    std::string media_dir =
        std::filesystem::absolute(std::filesystem::path(config.data_dir) / "media")
            .lexically_normal()
            .string();
    if (!media_dir.empty() && media_dir.back() == '/') media_dir.pop_back();

    Output out;
    nlohmann::json hello{{"version", kChildFrameVersion}, {"pid", ::getpid()}};
    if (!out.write(ChildFrameType::hello, hello.dump())) {
        spdlog::error("cannot write to stdout: {}", std::strerror(errno));
        return 1;
    }

    WorkQueue queue;
    std::vector<std::thread> workers;
    for (int i = 0; i < config.workers; ++i)
        workers.emplace_back(worker, std::ref(queue), std::ref(out));

    ChildFrameDecoder decoder(kChildFrameDefaultLimit);
    int status = 0;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            spdlog::error("reading stdin failed: {}", std::strerror(errno));
            status = 1;
            break;
        }
        decoder.feed(std::string_view(buf, static_cast<std::size_t>(n)));
        while (auto frame = decoder.next()) {
            if (frame->type != ChildFrameType::request) {
                spdlog::error("protocol error: unexpected frame type {}",
                              static_cast<int>(frame->type));
                std::_Exit(2);
            }
            std::string error;
            auto req = decode_image_request(frame->payload, error);
            if (!req) {
                auto id = request_id(frame->payload);
                spdlog::warn("request {}: malformed: {}", id ? std::to_string(*id) : "?", error);
                if (!id) std::_Exit(2);
                out.write(ChildFrameType::response, encode_image_response(image_failure(
                                                        *id, image_error::bad_request, error)));
                continue;
            }
            if (!under(req->input, media_dir) || !under(req->output, media_dir) ||
                !under(req->thumbnail, media_dir)) {
                spdlog::warn("request {}: a path outside {}", req->id, media_dir);
                out.write(ChildFrameType::response,
                          encode_image_response(image_failure(
                              req->id, image_error::bad_request,
                              "paths must be inside the media directory " + media_dir)));
                continue;
            }
            req->max_pixels = std::min(req->max_pixels, config.max_pixels);
            queue.push(std::move(*req));
        }
        if (decoder.failed()) {
            spdlog::error("protocol error: {}; exiting", decoder.error());
            std::_Exit(2);
        }
    }
    queue.close();
    for (auto& t : workers)
        t.join();
    spdlog::info("stdin closed; parley imageproc exiting");
    vips_shutdown();
    return status;
}

}  // namespace parley
