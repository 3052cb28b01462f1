// ChildProcess / ChildLauncher: the one seam between Parley and process creation. The image
// child is started through a ChildLauncher and handled as a ChildProcess, so that tests can
// inject failures and a move to Boost.Process v2 touches one file (boost_child_launcher.cpp).
//
// A launched child has its stdin and stdout connected to pipes whose other ends the caller
// owns (close-on-exec, never inherited by later children); its stderr is the server's, so its
// log lines land in the server's log. The child must close any other inherited descriptor
// itself (parley imageproc does, first thing).
// Not thread-safe: one owner at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace parley {

class ChildProcess {
  public:
    virtual ~ChildProcess() = default;  // kills and reaps a child still running
    virtual int pid() const = 0;
    // SIGKILL; safe to call after the child has exited.
    virtual void kill() = 0;
    // Waits for the child to end (blocking; call after kill() or EOF on its stdout) and
    // describes how it ended: "exit 0", "signal 9".
    virtual std::string wait() = 0;
};

struct LaunchedChild {
    std::unique_ptr<ChildProcess> process;  // null when the launch failed
    int stdin_fd = -1;                      // write end of the child's stdin; caller owns it
    int stdout_fd = -1;                     // read end of the child's stdout; caller owns it
    std::string error;                      // why the launch failed
};

class ChildLauncher {
  public:
    virtual ~ChildLauncher() = default;
    virtual LaunchedChild launch(const std::vector<std::string>& argv) = 0;
};

// The real launcher (Boost.Process v1).
std::unique_ptr<ChildLauncher> make_process_launcher();

}  // namespace parley
