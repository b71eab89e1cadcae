// SPDX-License-Identifier: MIT
// A real redis-server for the fleet tests: started by the test in a fresh
// temporary directory, listening only on a unix socket there, stopped and
// reaped in the destructor. Never a mock (the fleet's verdicts are about what
// a real server does: its Lua numbers, its errors, its script cache).
//
// A failed start is a test failure, never a skip: ok() is false and error()
// says why (no redis-server on PATH, a bad option, no PING within the
// deadline), and the tests REQUIRE(server.ok()). No exceptions (the tests
// also build with -fno-exceptions).
#ifndef PHONEVERIFY_TESTS_FLEET_REDIS_SERVER_HPP
#define PHONEVERIFY_TESTS_FLEET_REDIS_SERVER_HPP

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace phoneverify::test {

// The server's configuration. The defaults are the fleet's requirements
// (maxmemory-policy noeviction: an evicted key is a fresh budget) and a
// throwaway dataset (no RDB, no AOF); fault tests change them.
struct redis_server_options {
  std::string maxmemory_policy = "noeviction";
  std::string maxmemory;            // empty: no limit; "1" to make every write fail OOM
  bool appendonly = false;          // AOF on, in the server's directory
  std::string appendfsync;          // "always", "everysec" or "no" (with appendonly)
  bool enable_debug_command = false;  // DEBUG SLEEP for the stall tests
  std::vector<std::string> extra;   // more "--name value" arguments, as separate words
  std::string executable = "redis-server";
  std::chrono::milliseconds start_deadline{10000};
};

class redis_server {
 public:
  explicit redis_server(redis_server_options options = {}) : options_(std::move(options)) {
    char pattern[] = "/tmp/phoneverify-redis-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) {
      error_ = std::string("mkdtemp failed: ") + std::strerror(errno);
      return;
    }
    dir_ = pattern;
    socket_ = dir_ + "/redis.sock";
    start();
  }

  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  ~redis_server() {
    stop();
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  bool ok() const { return pid_ > 0 && error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& socket_path() const { return socket_; }
  const std::string& directory() const { return dir_; }
  pid_t pid() const { return pid_; }

  // Starts the server (again, after stop() or kill(), on the same directory
  // and socket, so a restart finds its AOF) and waits until it answers PING.
  bool start() {
    if (pid_ > 0) return true;
    error_.clear();
    std::vector<std::string> args{options_.executable,
                                  "--port", "0",  // no TCP listener at all
                                  "--unixsocket", socket_,
                                  "--unixsocketperm", "700",
                                  "--dir", dir_,
                                  "--save", "",
                                  "--appendonly", options_.appendonly ? "yes" : "no",
                                  "--maxmemory-policy", options_.maxmemory_policy,
                                  "--daemonize", "no",
                                  "--logfile", dir_ + "/redis.log"};
    if (!options_.appendfsync.empty()) args.insert(args.end(), {"--appendfsync", options_.appendfsync});
    if (!options_.maxmemory.empty()) args.insert(args.end(), {"--maxmemory", options_.maxmemory});
    if (options_.enable_debug_command) args.insert(args.end(), {"--enable-debug-command", "local"});
    args.insert(args.end(), options_.extra.begin(), options_.extra.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    const pid_t child = ::fork();
    if (child < 0) {
      error_ = std::string("fork failed: ") + std::strerror(errno);
      return false;
    }
    if (child == 0) {
      ::execvp(argv[0], argv.data());
      std::fprintf(stderr, "redis_server: cannot run %s: %s\n", argv[0], std::strerror(errno));
      ::_exit(127);
    }
    pid_ = child;
    const auto deadline = std::chrono::steady_clock::now() + options_.start_deadline;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = "redis-server exited during start-up (status " + std::to_string(status) + "); log: " + log_tail();
        return false;
      }
      if (ping()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    error_ = "redis-server did not answer PING within the start deadline; log: " + log_tail();
    stop();
    return false;
  }

  // SIGTERM, then waitpid (SIGKILL after 10 s if it has not exited).
  void stop() { end(SIGTERM); }
  // kill -9 (the fault tests' crash), then waitpid.
  void kill() { end(SIGKILL); }
  // SIGSTOP / SIGCONT: a server that stalls entirely (not even accept()).
  void pause() const {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
  }
  void resume() const {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
  }

  // True when the server answers PING with +PONG on its socket (a raw
  // RESP exchange, independent of the transport under test).
  bool ping() const {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socket_.size() >= sizeof address.sun_path) {
      ::close(fd);
      return false;
    }
    std::memcpy(address.sun_path, socket_.c_str(), socket_.size() + 1);
    bool answered = false;
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
      static constexpr char request[] = "PING\r\n";
      if (::write(fd, request, sizeof request - 1) == static_cast<ssize_t>(sizeof request - 1)) {
        pollfd p{fd, POLLIN, 0};
        char reply[16]{};
        if (::poll(&p, 1, 500) == 1) {
          const ssize_t got = ::read(fd, reply, sizeof reply - 1);
          answered = got >= 7 && std::string_view(reply, 7) == "+PONG\r\n";
        }
      }
    }
    ::close(fd);
    return answered;
  }

  // The last lines of the server's log, for failure messages.
  std::string log_tail() const {
    std::FILE* f = std::fopen((dir_ + "/redis.log").c_str(), "r");
    if (f == nullptr) return "(no log)";
    std::string text;
    char buffer[4096];
    std::size_t got = 0;
    while ((got = std::fread(buffer, 1, sizeof buffer, f)) > 0) text.append(buffer, got);
    std::fclose(f);
    return text.size() > 1500 ? text.substr(text.size() - 1500) : text;
  }

 private:
  void end(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);  // a paused server cannot act on SIGTERM
    ::kill(pid_, signal);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    pid_ = -1;
  }

  redis_server_options options_;
  std::string dir_;
  std::string socket_;
  std::string error_;
  pid_t pid_ = -1;
};

}  // namespace phoneverify::test

#endif  // PHONEVERIFY_TESTS_FLEET_REDIS_SERVER_HPP
