// SPDX-License-Identifier: MIT
// phoneverify: the optional hiredis transport of the fleet (fleet.hpp): one
// connection to one Redis server over a unix socket or TCP, with a connect
// and a command timeout, EVALSHA with EVAL after NOSCRIPT, and a fresh
// connection after any error. The only header of the library that includes
// <hiredis/hiredis.h> and talks to a socket; link phoneverify::redis
// (CMake, when pkg-config finds hiredis).
//
// Why each rule:
// - a Redis failure fails the request closed (RULES.md §4), fast: every
//   failure comes back as a defined `error` within the timeouts (50 ms by
//   default), never as an exception (the library builds with
//   -fno-exceptions too) and never as an admission;
// - a hiredis context cannot be used again after an error (its reply stream
//   may be out of step: a timed-out reply can still arrive), so the
//   connection drops it and connects again on the next command;
// - the server's script cache is no data: it is empty after a restart, a
//   failover or SCRIPT FLUSH, and per node in a cluster. run() sends EVALSHA
//   and, on NOSCRIPT, EVAL with the source, once;
// - writing to a socket the server closed raises SIGPIPE, which kills a
//   process by default: a command blocks SIGPIPE in its thread and consumes
//   one it caused, so the process's own handling is left as it was.
// One connection is one socket with no lock: use one per thread, or
// redis::pool, the fleet::transport of fleet_engine.hpp (a fixed set of
// connections shared by threads). A pooled connection left open across a
// server restart fails its next command once (connection_lost: the request
// is refused closed, RULES.md §4) and reconnects: a command whose outcome
// is unknown is never sent twice.
#ifndef PHONEVERIFY_REDIS_HPP
#define PHONEVERIFY_REDIS_HPP

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <span>
#include <string_view>
#include <utility>

#include <atomic>
#include <functional>
#include <string>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "fleet.hpp"
#include "inline_string.hpp"

namespace phoneverify::redis {

// What went wrong with a command (fleet.hpp's transport_error, under the
// name this header has always given it). Each fails the decision closed;
// the name is for logs and metrics.
using error = fleet::transport_error;

constexpr std::string_view error_name(error e) noexcept { return fleet::transport_error_name(e); }

using fleet::classify_error_reply;

// Where the server is and how long to wait. A unix socket when
// `unix_socket` is not empty, else TCP to host:port. The strings are copied.
struct options {
  std::string_view unix_socket;
  std::string_view host = "127.0.0.1";
  int port = 6379;
  std::chrono::milliseconds connect_timeout{50};
  std::chrono::milliseconds command_timeout{50};
};

inline constexpr std::size_t max_argc = 64;
inline constexpr std::size_t max_reply_nodes = 64;

// One reply of the server, owned (freed with it). view() is the reply as a
// fleet::reply_view; the view points into this object: it stays valid
// while the object lives and is not moved.
class reply {
 public:
  reply() noexcept = default;
  explicit reply(redisReply* r) noexcept : reply_(r) {}
  reply(reply&& other) noexcept : reply_(std::exchange(other.reply_, nullptr)) {}
  reply& operator=(reply&& other) noexcept {
    if (this != &other) {
      reset();
      reply_ = std::exchange(other.reply_, nullptr);
    }
    return *this;
  }
  reply(const reply&) = delete;
  reply& operator=(const reply&) = delete;
  ~reply() { reset(); }

  bool empty() const noexcept { return reply_ == nullptr; }

  // The reply's view; a nil view when empty. Nodes beyond max_reply_nodes
  // are cut off (fits() says whether all fit).
  fleet::reply_view view() const noexcept {
    used_ = 0;
    if (reply_ == nullptr) return {};
    fleet::reply_view root;
    fill(root, reply_);
    return root;
  }
  // Whether every node of the reply fits max_reply_nodes.
  bool fits() const noexcept { return reply_ == nullptr || count(reply_) <= max_reply_nodes; }

 private:
  void reset() noexcept {
    if (reply_ != nullptr) freeReplyObject(reply_);
    reply_ = nullptr;
  }
  static std::size_t count(const redisReply* r) noexcept {
    std::size_t n = 0;
    if (r->type == REDIS_REPLY_ARRAY)
      for (std::size_t i = 0; i < r->elements; ++i) n += 1 + count(r->element[i]);
    return n;
  }
  void fill(fleet::reply_view& out, const redisReply* r) const noexcept {
    using type = fleet::reply_view::type;
    switch (r->type) {
      case REDIS_REPLY_INTEGER:
        out.kind = type::integer;
        out.integer = r->integer;
        break;
      case REDIS_REPLY_STRING:
      case REDIS_REPLY_STATUS:
      case REDIS_REPLY_ERROR:
        out.kind = r->type == REDIS_REPLY_STRING ? type::string : r->type == REDIS_REPLY_STATUS ? type::status : type::error;
        out.text = std::string_view(r->str, r->len);
        break;
      case REDIS_REPLY_ARRAY: {
        out.kind = type::array;
        const std::size_t first = used_;
        const std::size_t n = r->elements < max_reply_nodes - used_ ? r->elements : max_reply_nodes - used_;
        used_ += n;
        for (std::size_t i = 0; i < n; ++i) {
          nodes_[first + i] = {};
          fill(nodes_[first + i], r->element[i]);
        }
        out.elements = std::span<const fleet::reply_view>(nodes_.data() + first, n);
        break;
      }
      default:
        out.kind = type::nil;
        break;
    }
  }

  redisReply* reply_ = nullptr;
  mutable std::array<fleet::reply_view, max_reply_nodes> nodes_{};
  mutable std::size_t used_ = 0;
};

// A command's outcome: `err` none and the reply, or the error and a message
// (the server's error text, or the transport's).
struct call_result {
  error err = error::none;
  inline_string<160> message;
  reply value;
  bool ok() const noexcept { return err == error::none; }
};

struct connection_stats {
  std::uint64_t commands = 0;            // commands sent (an EVAL after NOSCRIPT counts)
  std::uint64_t connects = 0;            // successful connections, the first included
  std::uint64_t noscript_fallbacks = 0;  // EVALSHA answered NOSCRIPT, EVAL sent
  std::uint64_t errors = 0;              // commands that returned an error
};

class connection {
 public:
  // Does not connect yet: the first command does, so that every failure
  // reaches the caller as a call_result.
  explicit connection(const options& opts) noexcept
      : port_(opts.port), connect_timeout_(opts.connect_timeout), command_timeout_(opts.command_timeout) {
    copy(unix_socket_, opts.unix_socket);
    copy(host_, opts.host);
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  connection(connection&& other) noexcept
      : unix_socket_(other.unix_socket_),
        host_(other.host_),
        port_(other.port_),
        connect_timeout_(other.connect_timeout_),
        command_timeout_(other.command_timeout_),
        context_(std::exchange(other.context_, nullptr)),
        stats_(other.stats_) {}
  connection& operator=(connection&&) = delete;
  ~connection() { drop(); }

  bool connected() const noexcept { return context_ != nullptr; }
  const connection_stats& stats() const noexcept { return stats_; }

  // Sends one command (binary-safe arguments) and waits for its reply. An
  // error reply comes back with its error and its reply; a transport error
  // drops the connection (the next command connects again).
  call_result command(std::span<const std::string_view> argv) noexcept {
    call_result out;
    if (argv.empty() || argv.size() > max_argc) {
      out.err = error::bad_argument;
      out.message.append("between 1 and 64 arguments");
      ++stats_.errors;
      return out;
    }
    if (context_ == nullptr && !connect(out)) {
      ++stats_.errors;
      return out;
    }
    std::array<const char*, max_argc> pointers{};
    std::array<std::size_t, max_argc> sizes{};
    for (std::size_t i = 0; i < argv.size(); ++i) {
      pointers[i] = argv[i].data();
      sizes[i] = argv[i].size();
    }
    ++stats_.commands;
    void* raw = nullptr;
    int saved_errno = 0;
    {
      const sigpipe_guard guard;
      errno = 0;
      raw = redisCommandArgv(context_, static_cast<int>(argv.size()), pointers.data(), sizes.data());
      saved_errno = errno;
    }
    if (raw == nullptr) {
      fail_context(out, saved_errno);
      ++stats_.errors;
      return out;
    }
    out.value = reply(static_cast<redisReply*>(raw));
    if (!out.value.fits()) {
      out.err = error::protocol;
      out.message.append("reply too large to view");
      ++stats_.errors;
      return out;
    }
    const fleet::reply_view view = out.value.view();
    if (view.kind == fleet::reply_view::type::error) {
      out.err = classify_error_reply(view.text);
      append_cut(out.message, view.text);
      ++stats_.errors;
    }
    return out;
  }

  // Runs a fleet script: EVALSHA, and EVAL with the source when the server
  // answers NOSCRIPT.
  template <std::size_t Keys, std::size_t Args, std::size_t ArgSize>
  call_result run(const fleet::script_call<Keys, Args, ArgSize>& call) noexcept {
    const auto by_sha = call.argv(false);
    call_result out = command(std::span<const std::string_view>(by_sha.data(), call.argc()));
    if (out.err != error::noscript) return out;
    ++stats_.noscript_fallbacks;
    const auto by_source = call.argv(true);
    return command(std::span<const std::string_view>(by_source.data(), call.argc()));
  }

  // Runs a script given as its two argument lists (fleet::script_run):
  // EVALSHA, EVAL after NOSCRIPT, then WAIT when asked, on this connection
  // (WAIT counts only the replicas that have this connection's writes).
  // `asking`: each of EVALSHA and EVAL is preceded by ASKING (a node
  // importing a slot serves its keys only to the next command after
  // ASKING, which is what an ASK redirection asks for).
  fleet::transport_result run(const fleet::script_run& c, bool asking = false) noexcept {
    static constexpr std::string_view asking_word[1] = {"ASKING"};
    const auto send = [this, asking](std::span<const std::string_view> argv) {
      if (asking) {
        call_result a = command(std::span<const std::string_view>(asking_word, 1));
        if (!a.ok()) return a;
      }
      return command(argv);
    };
    call_result out = send(c.by_sha);
    if (out.err == error::noscript) {
      ++stats_.noscript_fallbacks;
      out = send(c.by_source);
    }
    fleet::transport_result copied = copy_out(out);
    if (!copied.ok() || c.wait_replicas <= 0) return copied;
    std::array<char, 24> replicas{}, timeout{};
    const std::string_view words[3] = {"WAIT", decimal(replicas, c.wait_replicas),
                                       decimal(timeout, c.wait_timeout.count() < 1 ? 1 : c.wait_timeout.count())};
    call_result waited = command(std::span<const std::string_view>(words, 3));
    if (!waited.ok()) {
      fleet::transport_result failed = copy_out(waited);
      return failed;
    }
    const fleet::reply_view w = waited.value.view();
    if (w.kind != fleet::reply_view::type::integer) {
      fleet::transport_result failed;
      failed.err = error::protocol;
      failed.message.append("WAIT answered no integer");
      return failed;
    }
    copied.acknowledged = w.integer;
    return copied;
  }

  // A call_result copied into the transport's owned form.
  static fleet::transport_result copy_out(const call_result& r) noexcept {
    fleet::transport_result out;
    out.err = r.err;
    out.message.append(r.message.view());
    out.value.assign(r.value.view());
    return out;
  }

  // Closes the socket; the next command connects again.
  void disconnect() noexcept { drop(); }

 private:
  // Blocks SIGPIPE in this thread for one command and consumes a SIGPIPE
  // the command raised, restoring the thread's mask (see the header).
  class sigpipe_guard {
   public:
    sigpipe_guard() noexcept {
      sigemptyset(&pipe_);
      sigaddset(&pipe_, SIGPIPE);
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      was_pending_ = sigismember(&pending, SIGPIPE) == 1;
      blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0;
    }
    ~sigpipe_guard() {
      if (!blocked_) return;
      if (!was_pending_) {
        sigset_t pending;
        sigemptyset(&pending);
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE) == 1) {
          const timespec zero{0, 0};
          while (sigtimedwait(&pipe_, nullptr, &zero) == -1 && errno == EINTR) {
          }
        }
      }
      pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    sigpipe_guard(const sigpipe_guard&) = delete;
    sigpipe_guard& operator=(const sigpipe_guard&) = delete;

   private:
    sigset_t pipe_{};
    sigset_t old_{};
    bool was_pending_ = false;
    bool blocked_ = false;
  };

  template <std::size_t N>
  static void copy(inline_string<N>& to, std::string_view from) noexcept {
    to.clear();
    to.append(from.substr(0, N));
  }
  template <std::size_t N>
  static void append_cut(inline_string<N>& to, std::string_view text) noexcept {
    const std::size_t room = N - to.size();
    to.append(text.substr(0, room));
  }
  static std::string_view decimal(std::array<char, 24>& buffer, long long value) noexcept {
    std::size_t n = buffer.size();
    unsigned long long magnitude = value < 0 ? 0ULL - static_cast<unsigned long long>(value)
                                             : static_cast<unsigned long long>(value);
    do {
      buffer[--n] = static_cast<char>('0' + magnitude % 10U);
      magnitude /= 10U;
    } while (magnitude != 0 && n > 1);
    if (value < 0) buffer[--n] = '-';
    return {buffer.data() + n, buffer.size() - n};
  }
  static timeval to_timeval(std::chrono::milliseconds ms) noexcept {
    const long long count = ms.count() < 1 ? 1 : ms.count();
    timeval tv{};
    tv.tv_sec = static_cast<decltype(tv.tv_sec)>(count / 1000);
    tv.tv_usec = static_cast<decltype(tv.tv_usec)>((count % 1000) * 1000);
    return tv;
  }
  static error classify_errno(int e, error otherwise) noexcept {
    if (e == ECONNREFUSED || e == ENOENT || e == ENOTDIR) return error::connection_refused;
    if (e == ETIMEDOUT || e == EAGAIN || e == EWOULDBLOCK || e == EINPROGRESS) return error::timeout;
    return otherwise;
  }

  bool connect(call_result& out) noexcept {
    const timeval tv = to_timeval(connect_timeout_);
    int saved_errno = 0;
    {
      const sigpipe_guard guard;
      errno = 0;
      context_ = unix_socket_.empty() ? redisConnectWithTimeout(host_.c_str(), port_, tv)
                                      : redisConnectUnixWithTimeout(unix_socket_.c_str(), tv);
      saved_errno = errno;
    }
    if (context_ == nullptr) {
      out.err = error::client_out_of_memory;
      out.message.append("cannot allocate a redis context");
      return false;
    }
    if (context_->err != 0) {
      fail_context(out, saved_errno);
      return false;
    }
    if (redisSetTimeout(context_, to_timeval(command_timeout_)) != REDIS_OK) {
      fail_context(out, errno);
      return false;
    }
    ++stats_.connects;
    return true;
  }

  // Names the context's error and drops the context.
  void fail_context(call_result& out, int saved_errno) noexcept {
    const int code = context_ != nullptr ? context_->err : REDIS_ERR_OTHER;
    switch (code) {
      case REDIS_ERR_IO: out.err = classify_errno(saved_errno, error::connection_lost); break;
      case REDIS_ERR_EOF: out.err = error::connection_lost; break;
      case REDIS_ERR_PROTOCOL: out.err = error::protocol; break;
      case REDIS_ERR_OOM: out.err = error::client_out_of_memory; break;
      default: out.err = classify_errno(saved_errno, error::connection_lost); break;
    }
    if (context_ != nullptr) append_cut(out.message, std::string_view(context_->errstr));
    drop();
  }

  void drop() noexcept {
    if (context_ != nullptr) redisFree(context_);
    context_ = nullptr;
  }

  inline_string<108> unix_socket_;  // sockaddr_un's path size
  inline_string<255> host_;
  int port_;
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds command_timeout_;
  redisContext* context_ = nullptr;
  connection_stats stats_;
};

// A fleet::transport for a fleet engine shared by many threads: a fixed
// set of connections, each used by one thread at a time. A thread starts at
// a slot of its own (its id's hash) and takes the first free one from
// there, so with at least as many connections as threads no call waits for
// another; with fewer, a call may wait for one command of another thread
// (at most its timeouts) before its own. Every connection reconnects after
// an error on its next command (see connection).
struct pool_stats {
  std::uint64_t commands = 0, connects = 0, noscript_fallbacks = 0, errors = 0;
};

class pool final : public fleet::transport {
 public:
  static constexpr std::size_t default_size = 16;

  // `size` connections (1 when 0), none connected yet.
  explicit pool(const options& opts, std::size_t size = default_size) {
    if (size == 0) size = 1;
    slots_.reserve(size);
    for (std::size_t i = 0; i < size; ++i) slots_.push_back(std::make_unique<slot>(opts));
  }

  fleet::transport_result command(std::span<const std::string_view> argv) noexcept override {
    slot& s = acquire();
    const std::lock_guard<std::mutex> held(s.mutex, std::adopt_lock);
    return connection::copy_out(s.link.command(argv));
  }

  fleet::transport_result run(const fleet::script_run& c) noexcept override {
    slot& s = acquire();
    const std::lock_guard<std::mutex> held(s.mutex, std::adopt_lock);
    return s.link.run(c);
  }

  // The script after ASKING, on one connection (an ASK redirection's retry).
  fleet::transport_result run_asking(const fleet::script_run& c) noexcept {
    slot& s = acquire();
    const std::lock_guard<std::mutex> held(s.mutex, std::adopt_lock);
    return s.link.run(c, true);
  }

  std::size_t size() const noexcept { return slots_.size(); }

  // The sum of every connection's counters (each read under its lock).
  pool_stats stats() const noexcept {
    pool_stats out;
    for (const auto& s : slots_) {
      const std::lock_guard<std::mutex> held(s->mutex);
      const connection_stats& c = s->link.stats();
      out.commands += c.commands;
      out.connects += c.connects;
      out.noscript_fallbacks += c.noscript_fallbacks;
      out.errors += c.errors;
    }
    return out;
  }

  // Closes every connection; each reconnects on its next command.
  void disconnect_all() noexcept {
    for (const auto& s : slots_) {
      const std::lock_guard<std::mutex> held(s->mutex);
      s->link.disconnect();
    }
  }

 private:
  struct slot {
    explicit slot(const options& opts) noexcept : link(opts) {}
    mutable std::mutex mutex;
    connection link;
  };

  // A locked slot: the first free one from this thread's own, else its own.
  slot& acquire() noexcept {
    const std::size_t n = slots_.size();
    const std::size_t home = std::hash<std::thread::id>{}(std::this_thread::get_id()) % n;
    for (std::size_t i = 0; i < n; ++i) {
      slot& s = *slots_[(home + i) % n];
      if (s.mutex.try_lock()) return s;
    }
    slots_[home]->mutex.lock();
    return *slots_[home];
  }

  std::vector<std::unique_ptr<slot>> slots_;
};


// A fleet::transport for a Redis Cluster (the sharded key scheme, or one
// hash tag on a cluster): a redis::pool per master, a script routed to the
// master of its first key's slot (fleet::key_slot) by a slot map read with
// CLUSTER SLOTS, read again after a MOVED (then the script is sent once
// more, to the node MOVED names: a MOVED command did not run) and before
// the next script after a connection error (a failover moves the slots).
// ASK (the slot is being migrated and the key is not, or no longer, on the
// node the map names) is followed once without touching the map: ASKING
// then the script on the node ASK names (the migration may still be
// undone; the keys still on the old node are served there). A script whose
// keys are split between the two nodes mid-migration is answered TRYAGAIN
// by Redis and fails closed (error::error_reply), as does a second
// redirection. A command without keys (CONFIG GET, SCRIPT LOAD) runs on every
// master: the first failure, else the first reply that differs from the
// first master's (so one master that can evict keys is seen), else that one.
struct cluster_options {
  std::vector<std::pair<std::string, int>> seeds;  // host and port of some nodes
  std::chrono::milliseconds connect_timeout{50};
  std::chrono::milliseconds command_timeout{50};
  std::size_t connections_per_node = 4;
};

class cluster_pool final : public fleet::transport {
 public:
  explicit cluster_pool(cluster_options opts) : options_(std::move(opts)) {
    for (auto& slot : owner_) slot = no_node;
  }

  fleet::transport_result command(std::span<const std::string_view> argv) noexcept override {
    std::vector<pool*> masters = all_masters();
    fleet::transport_result first;
    if (masters.empty()) return unavailable();
    bool have_first = false;
    for (pool* p : masters) {
      fleet::transport_result r = p->command(argv);
      if (!r.ok()) {
        stale_.store(true);
        return r;
      }
      if (!have_first) {
        first = r;
        have_first = true;
      } else if (!same(r.value.view(), first.value.view())) {
        return r;
      }
    }
    return first;
  }

  fleet::transport_result run(const fleet::script_run& c) noexcept override {
    // EVALSHA <sha> <numkeys> <first key> ...: route by the first key.
    if (c.by_sha.size() < 4 || c.by_sha[2] == "0") {
      fleet::transport_result r;
      r.err = error::bad_argument;
      r.message.append("a cluster script needs a key");
      return r;
    }
    const std::uint16_t slot = fleet::key_slot(c.by_sha[3]);
    pool* p = owner(slot);
    if (p == nullptr) return unavailable();
    fleet::transport_result r = p->run(c);
    if (r.err == error::redirected && r.message.view().substr(0, 6) == "MOVED ") {
      // The command did not run: ask the node MOVED names, once.
      refresh();
      pool* moved = node_at(r.message.view().substr(6));
      if (moved == nullptr) return r;
      r = moved->run(c);
    }
    if (r.err == error::redirected && r.message.view().substr(0, 4) == "ASK ") {
      // Did not run either: once to the node ASK names, after ASKING; the
      // slot map stays (the slot is still the old node's until it moves).
      pool* importing = node_at(r.message.view().substr(4));
      if (importing == nullptr) return r;
      r = importing->run_asking(c);
    }
    if (r.err == error::connection_refused || r.err == error::connection_lost || r.err == error::timeout ||
        r.err == error::cluster_down || r.err == error::read_only)
      stale_.store(true);
    return r;
  }

  // Reads the slot map again now (also done on the first call).
  bool refresh() noexcept {
    const std::lock_guard<std::mutex> held(mutex_);
    return refresh_locked();
  }

 private:
  static constexpr std::uint16_t no_node = 0xFFFF;
  struct node {
    std::string host;
    int port = 0;
    std::unique_ptr<pool> link;
  };

  static fleet::transport_result unavailable() noexcept {
    fleet::transport_result r;
    r.err = error::cluster_down;
    r.message.append("no master known for the slot");
    return r;
  }

  static bool same(const fleet::reply_view& a, const fleet::reply_view& b) noexcept {
    if (a.kind != b.kind || a.integer != b.integer || a.text != b.text || a.elements.size() != b.elements.size())
      return false;
    for (std::size_t i = 0; i < a.elements.size(); ++i)
      if (!same(a.elements[i], b.elements[i])) return false;
    return true;
  }

  pool* owner(std::uint16_t slot) noexcept {
    const std::lock_guard<std::mutex> held(mutex_);
    if (stale_.load() || owner_[slot] == no_node) refresh_locked();
    return owner_[slot] == no_node ? nullptr : nodes_[owner_[slot]]->link.get();
  }

  std::vector<pool*> all_masters() noexcept {
    const std::lock_guard<std::mutex> held(mutex_);
    if (stale_.load() || nodes_.empty()) refresh_locked();
    std::vector<bool> seen(nodes_.size(), false);
    std::vector<pool*> out;
    for (std::uint16_t n : owner_)
      if (n != no_node && !seen[n]) {
        seen[n] = true;
        out.push_back(nodes_[n]->link.get());
      }
    return out;
  }

  // "host:port" (MOVED's address) as a known or new node.
  pool* node_at(std::string_view text) noexcept {
    const std::size_t space = text.find(' ');
    if (space != std::string_view::npos) text = text.substr(space + 1);
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return nullptr;
    int port = 0;
    for (char ch : text.substr(colon + 1)) {
      if (ch < '0' || ch > '9' || port > 65535) return nullptr;
      port = port * 10 + (ch - '0');
    }
    const std::lock_guard<std::mutex> held(mutex_);
    return nodes_[index_of(text.substr(0, colon), port)]->link.get();
  }

  std::uint16_t index_of(std::string_view host, int port) {
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      if (nodes_[i]->host == host && nodes_[i]->port == port) return static_cast<std::uint16_t>(i);
    auto n = std::make_unique<node>();
    n->host = std::string(host);
    n->port = port;
    options o;
    o.host = n->host;
    o.port = port;
    o.connect_timeout = options_.connect_timeout;
    o.command_timeout = options_.command_timeout;
    n->link = std::make_unique<pool>(o, options_.connections_per_node);
    nodes_.push_back(std::move(n));
    return static_cast<std::uint16_t>(nodes_.size() - 1);
  }

  // CLUSTER SLOTS from the first node that answers (the known nodes, then
  // the seeds); the map is replaced only by a complete answer.
  bool refresh_locked() noexcept {
    std::vector<std::pair<std::string, int>> ask;
    for (const auto& n : nodes_) ask.emplace_back(n->host, n->port);
    for (const auto& s : options_.seeds) ask.push_back(s);
    for (const auto& [host, port] : ask) {
      options o;
      o.host = host;
      o.port = port;
      o.connect_timeout = options_.connect_timeout;
      o.command_timeout = options_.command_timeout;
      connection c(o);
      const std::string_view words[2] = {"CLUSTER", "SLOTS"};
      call_result r = c.command(std::span<const std::string_view>(words, 2));
      if (!r.ok()) continue;
      const fleet::reply_view v = r.value.view();
      if (v.kind != fleet::reply_view::type::array || v.elements.empty()) continue;
      std::array<std::uint16_t, 16384> map{};
      for (auto& m : map) m = no_node;
      bool good = true;
      for (const fleet::reply_view& range : v.elements) {
        if (range.kind != fleet::reply_view::type::array || range.elements.size() < 3 ||
            range.elements[0].kind != fleet::reply_view::type::integer ||
            range.elements[1].kind != fleet::reply_view::type::integer ||
            range.elements[2].kind != fleet::reply_view::type::array || range.elements[2].elements.size() < 2 ||
            range.elements[2].elements[0].kind != fleet::reply_view::type::string ||
            range.elements[2].elements[1].kind != fleet::reply_view::type::integer) {
          good = false;
          break;
        }
        const long long from = range.elements[0].integer, to = range.elements[1].integer;
        if (from < 0 || to > 16383 || from > to) {
          good = false;
          break;
        }
        const std::string_view ip = range.elements[2].elements[0].text;
        const std::uint16_t n =
            index_of(ip.empty() ? std::string_view(host) : ip, static_cast<int>(range.elements[2].elements[1].integer));
        for (long long s = from; s <= to; ++s) map[static_cast<std::size_t>(s)] = n;
      }
      if (!good) continue;
      owner_ = map;
      stale_.store(false);
      return true;
    }
    return false;
  }

  cluster_options options_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<node>> nodes_;  // only grows: a pool* stays valid
  std::array<std::uint16_t, 16384> owner_{};
  std::atomic<bool> stale_{true};
};

}  // namespace phoneverify::redis

#endif  // PHONEVERIFY_REDIS_HPP
