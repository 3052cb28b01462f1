// The only file that uses Boost.Process (v1 API, Boost 1.74).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/io.hpp>
#include <boost/process/pipe.hpp>

#include "server/process/child_process.hpp"

namespace bp = boost::process;

namespace parley {

namespace {

class BoostChildProcess : public ChildProcess {
  public:
    explicit BoostChildProcess(bp::child child) : child_(std::move(child)) {}
    ~BoostChildProcess() override {
        kill();
        wait();
    }
    int pid() const override { return child_.id(); }
    void kill() override {
        if (!reaped_) ::kill(child_.id(), SIGKILL);
    }
    std::string wait() override {
        if (reaped_) return how_;
        std::error_code ec;
        child_.wait(ec);
        reaped_ = true;
        if (ec) {
            how_ = "unknown (" + ec.message() + ")";
            return how_;
        }
        int native = child_.native_exit_code();
        if (WIFSIGNALED(native)) {
            how_ = "signal " + std::to_string(WTERMSIG(native));
        } else {
            how_ = "exit " + std::to_string(child_.exit_code());
        }
        return how_;
    }

  private:
    bp::child child_;
    bool reaped_ = false;
    std::string how_;
};

class BoostChildLauncher : public ChildLauncher {
  public:
    LaunchedChild launch(const std::vector<std::string>& argv) override {
        LaunchedChild out;
        if (argv.empty()) {
            out.error = "no program to start";
            return out;
        }
        // Close-on-exec pipes: the child gets them through dup2 (which clears the flag), no
        // other child ever inherits them, so EOF on the child's stdin is always ours to give.
        int in[2], outp[2];
        if (::pipe2(in, O_CLOEXEC) != 0) {
            out.error = std::string("pipe: ") + std::strerror(errno);
            return out;
        }
        if (::pipe2(outp, O_CLOEXEC) != 0) {
            out.error = std::string("pipe: ") + std::strerror(errno);
            ::close(in[0]);
            ::close(in[1]);
            return out;
        }
        // Descriptors of the server without close-on-exec (sockets) reach the exec'd child for
        // an instant: `parley imageproc` closes every descriptor above 2 before anything else
        // (Boost.Process' limit_handles would do it between fork and exec, but in 1.74 it also
        // closes the redirected pipes).
        try {
            bp::pipe child_in(in[0], in[1]);
            bp::pipe child_out(outp[0], outp[1]);
            std::vector<std::string> args(argv.begin() + 1, argv.end());
            bp::child child(bp::exe = argv[0], bp::args = args,
                            bp::std_in<child_in, bp::std_out> child_out, bp::std_err > stderr);
            // Keep only our ends; the pipe objects close both of theirs.
            out.stdin_fd = ::fcntl(child_in.native_sink(), F_DUPFD_CLOEXEC, 3);
            out.stdout_fd = ::fcntl(child_out.native_source(), F_DUPFD_CLOEXEC, 3);
            out.process = std::make_unique<BoostChildProcess>(std::move(child));
            if (out.stdin_fd < 0 || out.stdout_fd < 0) {
                out.error = std::string("dup: ") + std::strerror(errno);
                if (out.stdin_fd >= 0) ::close(out.stdin_fd);
                if (out.stdout_fd >= 0) ::close(out.stdout_fd);
                out.stdin_fd = out.stdout_fd = -1;
                out.process.reset();
            }
        } catch (const std::exception& e) {
            out.error = e.what();
            out.process.reset();
        }
        return out;
    }
};

}  // namespace

std::unique_ptr<ChildLauncher> make_process_launcher() {
    return std::make_unique<BoostChildLauncher>();
}

}  // namespace parley
