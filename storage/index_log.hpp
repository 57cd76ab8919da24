// dmon::index_log: the CRC'd append-only log that makes an index write durable before RocksDB sees
// it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "event.hpp"
#include "store.hpp"

namespace dmon {

/// How to open an index log.
struct index_log_options {
  /// The directory holding the segments (`<n>.log`, n counting up from 1); created when
  /// missing unless `read_only`.
  std::string dir;
  /// fdatasync every append (and fsync the directory when a segment is made or removed).
  bool sync = false;
  /// Replay only: nothing is truncated, created or written.
  bool read_only = false;
  /// Test hook: appends fail while `fault->fail`, as on a full disk.
  std::shared_ptr<write_fault> fault;
};

/// An append-only log of records, each written with one `write()` as
/// `u32 length | u32 crc32c(length bytes + payload) | payload` (little-endian), in numbered
/// segment files. `open` replays every segment in order and cuts each at its first torn or
/// corrupt record (a crash in the middle of a write), so an append that returned is
/// replayed and one that did not is not. The store writes one record per index write
/// (`add_put`/`add_erase` entries) and empties the log at checkpoints: `rotate`, write
/// what the sealed segments hold elsewhere, `drop_through`. Not thread-safe: the store
/// serializes its calls.
class index_log {
 public:
  /// What `open` replayed and what it had to cut.
  struct replay_report {
    size_t segments = 0;
    size_t records = 0;
    /// One line per cut segment, naming the file, the offset and what was dropped.
    std::vector<std::string> warnings;
  };

  /// Called with each intact record's payload, oldest first; an error stops the open.
  using record_fn = std::function<status(std::string_view payload)>;

  /// Opens `opts.dir`, replays its segments through `fn`, and (unless read-only) starts a
  /// new segment for appends; the replayed ones stay until `drop_through`. Fails when the
  /// directory or a segment cannot be read or created, naming it.
  static result<std::unique_ptr<index_log>> open(index_log_options opts, const record_fn& fn,
                                                 replay_report& report);

  ~index_log();
  index_log(const index_log&) = delete;
  index_log& operator=(const index_log&) = delete;

  /// A buffer for the next record's payload, emptied, with room for the header in front
  /// (so the record is written without copying the payload). Fill it, then `append()`.
  std::string& payload();

  /// Appends the record built in `payload()` (nothing when it is empty); returns once it is
  /// in the file (the page cache), and fdatasynced when `sync`. On failure the file is cut
  /// back to its last record, so the log is as before the call; the next append may succeed.
  status append();

  /// Appends a record with `bytes` as its payload.
  status append(std::string_view bytes);

  /// Bytes in every live segment (sealed and current).
  uint64_t bytes() const { return sealed_bytes_ + size_; }

  /// Bytes appended to the current segment.
  uint64_t current_bytes() const { return size_; }

  /// Starts a new segment for the appends to come and returns the number of the last sealed
  /// one (the previous current segment).
  result<uint64_t> rotate();

  /// Deletes every segment numbered `upto` or lower (never the current one).
  status drop_through(uint64_t upto);

  /// The first half of `drop_through`: stops counting the segments numbered `upto` or lower
  /// as live and returns their paths, for `remove` to delete without the caller's lock (the
  /// unlink of a large file that is still in the page cache takes milliseconds).
  std::vector<std::string> release_through(uint64_t upto);

  /// Deletes released segments (fsyncing the directory when `sync`); a file that cannot be
  /// deleted is replayed, harmlessly, at the next open.
  status remove(const std::vector<std::string>& paths) const;

  /// The segment appends go to.
  uint64_t current_segment() const { return current_; }

  /// The directory.
  const std::string& dir() const { return opts_.dir; }

  // -- the store's record payload: entries of one index write --------------------------

  /// Appends an entry "keep this event as its key's latest" (`e` in the storage encoding).
  static void add_put(std::string& payload, const event& e);
  /// Appends an entry "remove this key" (`encoded_key` as `index_key::encode`).
  static void add_erase(std::string& payload, std::string_view encoded_key);
  /// Calls `fn(erase, bytes)` for each entry of a payload (bytes: the storage-encoded event,
  /// or the encoded key for an erase); fails when the payload is malformed.
  static status read_entries(std::string_view payload,
                             const std::function<status(bool erase, std::string_view)>& fn);

 private:
  explicit index_log(index_log_options opts) : opts_(std::move(opts)) {}
  std::string segment_path(uint64_t n) const;
  status start_segment(uint64_t n);
  status sync_dir() const;
  status write_framed(char* data, size_t n);

  index_log_options opts_;
  int fd_ = -1;
  uint64_t current_ = 0;
  uint64_t size_ = 0;
  /// Live segments before the current one, with their sizes.
  std::vector<std::pair<uint64_t, uint64_t>> sealed_;
  uint64_t sealed_bytes_ = 0;
  /// The current segment could not be cut back after a failed write: start a new one first.
  bool broken_ = false;
  std::string buffer_;
};

}  // namespace dmon
