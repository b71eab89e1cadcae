// SPDX-License-Identifier: MIT
// A real Redis Cluster for the fleet tests: 3 masters (and, on request, a
// replica each) started by the test as redis-server processes with
// cluster-enabled yes, on TCP ports of 127.0.0.1 picked free (the cluster
// bus is TCP only: port + 10000, so both must be free), joined with
// `redis-cli --cluster create ... --cluster-yes`, ready once every node
// reports cluster_state:ok, and stopped and reaped in the destructor. Never
// a mock: what the fleet must survive is what a real cluster answers (MOVED
// for a slot another node owns, CLUSTERDOWN once a master is lost).
//
// A failed start is a test failure, never a skip: ok() is false and error()
// says why (no redis-server or redis-cli on PATH, no free port, a node that
// exited, no cluster_state:ok within the deadline), with the log's tail. No
// exceptions (the tests also build with -fno-exceptions).
#ifndef PHONEVERIFY_TESTS_FLEET_REDIS_CLUSTER_HPP
#define PHONEVERIFY_TESTS_FLEET_REDIS_CLUSTER_HPP

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace phoneverify::test {

struct redis_cluster_options {
  std::size_t masters = 3;   // redis-cli --cluster create needs at least 3
  std::size_t replicas = 0;  // per master
  // How long a node may be silent before the others count it as failed:
  // short, so a killed master turns the cluster down (or its replica up)
  // within a couple of seconds.
  std::chrono::milliseconds node_timeout{1000};
  std::string server_executable = "redis-server";
  std::string cli_executable = "redis-cli";
  std::chrono::milliseconds start_deadline{30000};
};

class redis_cluster {
 public:
  explicit redis_cluster(redis_cluster_options options = {}) : options_(std::move(options)) {
    char pattern[] = "/tmp/phoneverify-cluster-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) {
      error_ = std::string("mkdtemp failed: ") + std::strerror(errno);
      return;
    }
    dir_ = pattern;
    start();
  }
  redis_cluster(const redis_cluster&) = delete;
  redis_cluster& operator=(const redis_cluster&) = delete;
  ~redis_cluster() {
    for (std::size_t i = 0; i < nodes_.size(); ++i) end(i, SIGTERM);
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  bool ok() const { return error_.empty() && !nodes_.empty(); }
  const std::string& error() const { return error_; }
  std::size_t size() const { return nodes_.size(); }
  int port(std::size_t i) const { return nodes_[i].port; }
  pid_t pid(std::size_t i) const { return nodes_[i].pid; }
  bool alive(std::size_t i) const { return nodes_[i].pid > 0; }
  const std::string& directory() const { return dir_; }

  // kill -9 of node i (the fault tests' crash), then waitpid.
  void kill(std::size_t i) { end(i, SIGKILL); }

  // One inline command to node i over a raw TCP exchange (independent of the
  // transport under test); the reply's text (a bulk string's contents, or a
  // status or error line with its +/- sign), empty when there is none.
  std::string raw(std::size_t i, std::string_view inline_command) const {
    return raw_command(nodes_[i].port, inline_command);
  }
  // CLUSTER INFO's cluster_state of node i: "ok", "fail", or empty when the
  // node does not answer.
  std::string state(std::size_t i) const {
    const std::string info = raw(i, "CLUSTER INFO");
    const std::size_t at = info.find("cluster_state:");
    if (at == std::string::npos) return {};
    const std::size_t end = info.find_first_of("\r\n", at);
    return info.substr(at + 14, end == std::string::npos ? std::string::npos : end - at - 14);
  }
  // The node that serves `slot` as master according to node `asked`
  // (CLUSTER SHARDS is 7.0+; CLUSTER NODES is read instead, which every
  // version has), or size() when none does.
  std::size_t master_of_slot(std::uint16_t slot, std::size_t asked = 0) const {
    const std::string nodes = raw(asked, "CLUSTER NODES");
    std::size_t line_start = 0;
    while (line_start < nodes.size()) {
      std::size_t line_end = nodes.find('\n', line_start);
      if (line_end == std::string::npos) line_end = nodes.size();
      const std::string line = nodes.substr(line_start, line_end - line_start);
      line_start = line_end + 1;
      std::vector<std::string> fields;
      std::size_t p = 0;
      while (p < line.size()) {
        const std::size_t q = line.find(' ', p);
        fields.push_back(line.substr(p, q == std::string::npos ? std::string::npos : q - p));
        if (q == std::string::npos) break;
        p = q + 1;
      }
      if (fields.size() < 9 || fields[2].find("master") == std::string::npos) continue;
      bool serves = false;
      for (std::size_t f = 8; f < fields.size() && !serves; ++f) {
        const std::string& range = fields[f];
        if (range.empty() || range[0] == '[') continue;  // a slot being migrated
        const std::size_t dash = range.find('-');
        const long first = std::strtol(range.c_str(), nullptr, 10);
        const long last = dash == std::string::npos ? first : std::strtol(range.c_str() + dash + 1, nullptr, 10);
        serves = slot >= first && slot <= last;
      }
      if (!serves) continue;
      const std::size_t colon = fields[1].find(':');
      const int node_port = std::atoi(fields[1].c_str() + colon + 1);
      for (std::size_t i = 0; i < nodes_.size(); ++i)
        if (nodes_[i].port == node_port) return i;
    }
    return nodes_.size();
  }

  // Waits until every live node reports `wanted` as its cluster_state (a
  // failure needs node_timeout and a majority of masters to agree).
  bool wait_for_state(std::string_view wanted, std::chrono::milliseconds deadline) const {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      bool all = true;
      for (std::size_t i = 0; i < nodes_.size() && all; ++i)
        if (alive(i)) all = state(i) == wanted;
      if (all) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // The last lines of node i's log (or of redis-cli's, for i == size()).
  std::string log_tail(std::size_t i) const {
    const std::string path = i < nodes_.size() ? nodes_[i].dir + "/redis.log" : dir_ + "/cluster-create.log";
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr) return "(no log)";
    std::string text;
    char buffer[4096];
    std::size_t got = 0;
    while ((got = std::fread(buffer, 1, sizeof buffer, f)) > 0) text.append(buffer, got);
    std::fclose(f);
    return text.size() > 1500 ? text.substr(text.size() - 1500) : text;
  }

 private:
  struct node {
    int port = 0;
    pid_t pid = -1;
    std::string dir;
  };

  // A port p of 127.0.0.1 with p and p + 10000 both free when asked (the
  // kernel's choice for p; another process may take it before the server
  // binds it, so a node that cannot bind fails the start with its log).
  static int free_port_pair() {
    for (int attempt = 0; attempt < 200; ++attempt) {
      const int first = bind_any(0);
      if (first <= 0 || first > 55535) continue;
      if (bind_any(first + 10000) > 0) return first;
    }
    return 0;
  }
  // Binds 127.0.0.1:port (0: any) and closes it again; the port, or 0.
  static int bind_any(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int result = 0;
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
      socklen_t length = sizeof address;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) result = ntohs(address.sin_port);
    }
    ::close(fd);
    return result;
  }

  static std::string raw_command(int port, std::string_view inline_command) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return {};
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string reply;
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
      const std::string request = std::string(inline_command) + "\r\n";
      if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
        std::string in;
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (std::chrono::steady_clock::now() < until && !complete(in)) {
          pollfd p{fd, POLLIN, 0};
          if (::poll(&p, 1, 200) != 1) continue;
          char buffer[4096];
          const ssize_t got = ::read(fd, buffer, sizeof buffer);
          if (got <= 0) break;
          in.append(buffer, static_cast<std::size_t>(got));
        }
        if (complete(in)) reply = contents(in);
      }
    }
    ::close(fd);
    return reply;
  }
  // Whether `in` holds one whole reply: a line, or a bulk string's length
  // line and that many bytes and CRLF.
  static bool complete(const std::string& in) {
    const std::size_t eol = in.find("\r\n");
    if (eol == std::string::npos) return false;
    if (in[0] != '$') return true;
    const long length = std::strtol(in.c_str() + 1, nullptr, 10);
    return length < 0 || in.size() >= eol + 2 + static_cast<std::size_t>(length) + 2;
  }
  static std::string contents(const std::string& in) {
    const std::size_t eol = in.find("\r\n");
    if (in[0] != '$') return in.substr(0, eol);
    const long length = std::strtol(in.c_str() + 1, nullptr, 10);
    return length < 0 ? std::string{} : in.substr(eol + 2, static_cast<std::size_t>(length));
  }

  static pid_t spawn(std::vector<std::string> args, const std::string& output) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t child = ::fork();
    if (child == 0) {
      if (!output.empty()) {
        const int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
          ::dup2(fd, 1);
          ::dup2(fd, 2);
        }
      }
      ::execvp(argv[0], argv.data());
      std::fprintf(stderr, "redis_cluster: cannot run %s: %s\n", argv[0], std::strerror(errno));
      ::_exit(127);
    }
    return child;
  }

  void start() {
    const std::size_t count = options_.masters * (1 + options_.replicas);
    nodes_.resize(count);
    for (std::size_t i = 0; i < count; ++i) {
      node& n = nodes_[i];
      n.port = free_port_pair();
      if (n.port == 0) {
        error_ = "no free pair of TCP ports (p, p + 10000) on 127.0.0.1";
        return;
      }
      n.dir = dir_ + "/node" + std::to_string(i);
      std::error_code made;
      std::filesystem::create_directory(n.dir, made);
      if (made) {
        error_ = "cannot create " + n.dir + ": " + made.message();
        return;
      }
      n.pid = spawn({options_.server_executable, "--port", std::to_string(n.port), "--bind", "127.0.0.1",
                     "--cluster-enabled", "yes", "--cluster-config-file", n.dir + "/nodes.conf",
                     "--cluster-node-timeout", std::to_string(options_.node_timeout.count()), "--dir", n.dir,
                     "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction", "--daemonize", "no",
                     // A replica's first sync would otherwise wait 5 s for more replicas.
                     "--repl-diskless-sync-delay", "0",
                     "--logfile", n.dir + "/redis.log"},
                    {});
      if (n.pid < 0) {
        error_ = std::string("fork failed: ") + std::strerror(errno);
        return;
      }
    }
    const auto until = std::chrono::steady_clock::now() + options_.start_deadline;
    for (std::size_t i = 0; i < count; ++i) {
      while (raw(i, "PING") != "+PONG") {
        int status = 0;
        if (::waitpid(nodes_[i].pid, &status, WNOHANG) == nodes_[i].pid) {
          nodes_[i].pid = -1;
          error_ = "node " + std::to_string(i) + " exited during start-up (status " + std::to_string(status) +
                   "); log: " + log_tail(i);
          return;
        }
        if (std::chrono::steady_clock::now() > until) {
          error_ = "node " + std::to_string(i) + " did not answer PING; log: " + log_tail(i);
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    std::vector<std::string> create{options_.cli_executable, "--cluster", "create"};
    for (const node& n : nodes_) create.push_back("127.0.0.1:" + std::to_string(n.port));
    create.insert(create.end(), {"--cluster-replicas", std::to_string(options_.replicas), "--cluster-yes"});
    const pid_t cli = spawn(create, dir_ + "/cluster-create.log");
    int status = 0;
    while (::waitpid(cli, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > until) {
        ::kill(cli, SIGKILL);
        ::waitpid(cli, &status, 0);
        error_ = "redis-cli --cluster create did not finish; its output: " + log_tail(count);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      error_ = "redis-cli --cluster create failed (status " + std::to_string(status) + "); its output: " +
               log_tail(count);
      return;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (!wait_for_state("ok", left)) {
      error_ = "no cluster_state:ok within the start deadline; node 0's log: " + log_tail(0);
      return;
    }
    // Ready means every replica has its master's data: its link is up.
    for (std::size_t i = 0; i < count; ++i) {
      for (;;) {
        const std::string info = raw(i, "INFO replication");
        if (info.find("role:slave") == std::string::npos || info.find("master_link_status:up") != std::string::npos)
          break;
        if (std::chrono::steady_clock::now() > until) {
          error_ = "replica " + std::to_string(i) + " did not sync within the start deadline; log: " + log_tail(i);
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }

  // The signal, then waitpid (SIGKILL after 10 s if the node has not exited).
  void end(std::size_t i, int signal) {
    node& n = nodes_[i];
    if (n.pid <= 0) return;
    ::kill(n.pid, SIGCONT);
    ::kill(n.pid, signal);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 0;
    while (::waitpid(n.pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(n.pid, SIGKILL);
        ::waitpid(n.pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    n.pid = -1;
  }

  redis_cluster_options options_;
  std::string dir_;
  std::string error_;
  std::vector<node> nodes_;
};

}  // namespace phoneverify::test

#endif  // PHONEVERIFY_TESTS_FLEET_REDIS_CLUSTER_HPP
