// The RocksDB implementation of dmon::store; the only file that sees RocksDB types.
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/table_properties_collectors.h>
#include <rocksdb/write_batch.h>

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <limits>
#include <mutex>
#include <system_error>
#include <thread>

#include "event_encoding.hpp"
#include "expiry_schedule.hpp"
#include "index_log.hpp"
#include "key_table.hpp"
#include "store.hpp"

namespace dmon {

namespace {

namespace enc = storage_encoding;

constexpr int64_t min_time = std::numeric_limits<int64_t>::min();

// The default column family holds only dmon's own bookkeeping.
constexpr const char* history_seq_key = "history_seq";

error failure(const std::string& what, const rocksdb::Status& s) {
  return error{ec::storage_failure, what + ": " + s.ToString()};
}

std::string ordered(int64_t v) {
  std::string out;
  enc::put_ordered_i64(out, v);
  return out;
}

// Databases written before the expiry order moved into memory have this family;
// it is dropped at open.
constexpr const char* legacy_expiry_family = "expiry";

constexpr const char* replicas_family = "replicas";

std::string history_key(int64_t time_us, uint64_t seq) {
  std::string out;
  out.reserve(16);
  enc::put_ordered_i64(out, time_us);
  for (int i = 7; i >= 0; --i)
    out.push_back(static_cast<char>(seq >> (8 * i)));
  return out;
}

uint64_t get_u64_be(std::string_view bytes) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  return v;
}

rocksdb::Slice slice(std::string_view s) {
  return {s.data(), s.size()};
}

std::string_view view(const rocksdb::Slice& s) {
  return {s.data(), s.size()};
}

// Fails appends and syncs while the test's flag is up, as a full disk does.
class faulty_file : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  faulty_file(std::unique_ptr<rocksdb::FSWritableFile> f, std::shared_ptr<write_fault> fault)
      : FSWritableFileOwnerWrapper(std::move(f)), fault_(std::move(fault)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           rocksdb::IODebugContext* dbg) override {
    if (fault_->fail)
      return injected();
    return FSWritableFileOwnerWrapper::Append(data, o, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    if (fault_->fail)
      return injected();
    return FSWritableFileOwnerWrapper::Append(data, o, info, dbg);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    if (fault_->fail)
      return injected();
    return FSWritableFileOwnerWrapper::Sync(o, dbg);
  }

 private:
  static rocksdb::IOStatus injected() {
    return rocksdb::IOStatus::NoSpace("No space left on device (injected)");
  }

  std::shared_ptr<write_fault> fault_;
};

class faulty_fs : public rocksdb::FileSystemWrapper {
 public:
  explicit faulty_fs(std::shared_ptr<write_fault> fault)
      : FileSystemWrapper(rocksdb::FileSystem::Default()), fault_(std::move(fault)) {}

  const char* Name() const override { return "dmon_faulty_fs"; }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    auto s = FileSystemWrapper::NewWritableFile(f, o, r, dbg);
    if (s.ok())
      *r = std::make_unique<faulty_file>(std::move(*r), fault_);
    return s;
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override {
    auto s = FileSystemWrapper::ReopenWritableFile(f, o, r, dbg);
    if (s.ok())
      *r = std::make_unique<faulty_file>(std::move(*r), fault_);
    return s;
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old,
                                      const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* dbg) override {
    auto s = FileSystemWrapper::ReuseWritableFile(f, old, o, r, dbg);
    if (s.ok())
      *r = std::make_unique<faulty_file>(std::move(*r), fault_);
    return s;
  }

 private:
  std::shared_ptr<write_fault> fault_;
};

class rocksdb_store final : public store {
 public:
  explicit rocksdb_store(store_options opts) : opts_(std::move(opts)), mem_(opts_.default_ttl) {}

  ~rocksdb_store() override {
    // No checkpoint here: the log holds everything since the last one and the next open
    // replays it, as after a crash.
    if (checkpointer_.joinable()) {
      {
        std::lock_guard lk{cp_mtx_};
        cp_stop_ = true;
      }
      cp_cv_.notify_one();
      checkpointer_.join();
    }
    if (!db_)
      return;
    for (auto* h : handles_)
      db_->DestroyColumnFamilyHandle(h);
    // Close reports a failed final WAL sync; a destructor can only drop it,
    // and everything acknowledged was written before.
    db_->Close().PermitUncheckedError();
  }

  status open_db();

  const open_report& opened() const override { return report_; }

  result<size_t> apply(std::span<const event> events) override;
  result<size_t> apply_latest(std::vector<keyed_event>& latest) override;
  std::optional<event> lookup(const index_key& key) const override { return mem_.lookup(key); }
  std::vector<event> select(const query::predicate& pred) const override {
    return mem_.select(pred);
  }
  size_t size() const override { return mem_.size(); }
  const index& memory() const override { return mem_; }
  result<std::vector<event>> expire(int64_t now_us) override;

  status append_history(std::span<const event> events) override;
  result<std::vector<event>> history(int64_t from_us, int64_t to_us, const query::predicate* filter,
                                     size_t limit) const override;
  result<retention_report> enforce_retention(int64_t now_us) override;
  result<uint64_t> history_bytes() const override;

  status put_state(std::string_view key, std::string_view bytes) override;
  result<std::optional<std::string>> get_state(std::string_view key) const override;
  result<std::vector<std::pair<std::string, std::string>>> list_state(
      std::string_view prefix) const override;
  status delete_state(std::string_view key) override;
  status write_states(std::span<const std::pair<std::string, std::string>> puts,
                      std::span<const std::string> deletes) override;

  status write_replicas(std::span<const replica_write> writes) override;
  result<std::vector<event>> load_replicas() const override;

  status checkpoint() override { return run_checkpoint(true); }
  status flush() override;

 private:
  std::string db_path() const { return (std::filesystem::path{opts_.path} / "db").string(); }

  rocksdb::WriteOptions write_options() const {
    rocksdb::WriteOptions wo;
    wo.sync = opts_.sync;
    return wo;
  }

  status write(rocksdb::WriteBatch& batch, const char* what) {
    auto s = db_->Write(write_options(), &batch);
    if (!s.ok())
      return failure(std::string{"cannot write "} + what + " to '" + db_path() + "'", s);
    return std::monostate{};
  }

  status rebuild_index();
  status open_log();
  status replay_record(std::string_view payload);
  // Remembers that the key of `e` changed since the last checkpoint; write_mtx_ held. Called
  // by the index once per key and checkpoint (see `mark_`).
  void note_dirty(const event& e) {
    if (dirty_.empty())
      dirty_since_ = std::chrono::steady_clock::now();
    dirty_.push_back({e.host, e.service});
  }
  // Whether a checkpoint is due by log size or age; write_mtx_ held.
  bool checkpoint_due(std::chrono::steady_clock::time_point now) const;
  // After an index write (write_mtx_ held): wakes the checkpointer when one is due.
  void request_checkpoint_if_due();
  // Writes the dirty keys' entries to RocksDB and drops the log segments they came from,
  // when due (or always when `force`); takes write_mtx_ only to seal the log and at the end.
  status run_checkpoint(bool force);
  void checkpoint_loop();
  error read_only_refusal(const char* what) const {
    return error{ec::storage_failure, std::string{"cannot write "} + what + " to '" + opts_.path +
                                          "': opened read only"};
  }
  status migrate_legacy_replicas();
  result<uint64_t> approximate_size(rocksdb::ColumnFamilyHandle* cf, const std::string& begin,
                                    const std::string& end) const;
  status delete_history_before(int64_t time_us);

  store_options opts_;
  index mem_;
  open_report report_;
  // Declared before db_ so they outlive it.
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* meta_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* index_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* events_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* state_cf_ = nullptr;
  // Null only in a read-only open of a database from before the family existed.
  rocksdb::ColumnFamilyHandle* replicas_cf_ = nullptr;
  // One writer at a time: apply and expire read the memory to decide what to
  // delete, the expiry schedule is theirs, and the history sequence must not repeat.
  std::mutex write_mtx_;
  expiry_schedule expiry_;
  uint64_t next_seq_ = 0;
  // Index writes are durable once in the log; RocksDB's `index` family is written at
  // checkpoints from the in-memory entries of the keys changed since the last one.
  std::unique_ptr<index_log> log_;
  // The keys changed since the last checkpoint, found by the index marking each entry it
  // changes with `mark_` (a new value at every checkpoint), so a key is noted once per
  // checkpoint without a lookup of its own (a key erased and put again may appear twice).
  std::vector<index_key> dirty_;
  uint32_t mark_ = 1;
  std::chrono::steady_clock::time_point dirty_since_{};
  std::string key_buf_;
  // One checkpoint at a time (the background one, `checkpoint`, `flush`).
  std::mutex cp_run_mtx_;
  // The background checkpointer's wake-ups.
  std::mutex cp_mtx_;
  std::condition_variable cp_cv_;
  bool cp_requested_ = false;
  bool cp_stop_ = false;
  std::thread checkpointer_;
};

status rocksdb_store::open_db() {
  auto started = std::chrono::steady_clock::now();
  namespace fs = std::filesystem;
  std::error_code err;
  if (!opts_.read_only) {
    fs::create_directories(db_path(), err);
    if (err)
      return error{ec::storage_failure, "cannot create data directory '" + db_path() +
                                            "': " + err.message() +
                                            "; point --data-dir at a writable directory"};
  }

  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  // RocksDB's info LOG is for post-mortems; keep a few small ones, not gigabytes.
  options.keep_log_file_num = 5;
  options.max_log_file_size = 16 << 20;
  options.write_buffer_size = opts_.write_buffer_bytes;
  // A memtable updated in place never fills; this flushes the families holding the oldest
  // WAL once the WAL reaches it, which bounds the replay after a crash.
  options.max_total_wal_size = uint64_t{128} << 20;
  options.IncreaseParallelism(2);
  if (opts_.fault) {
    env_ = rocksdb::NewCompositeEnv(std::make_shared<faulty_fs>(opts_.fault));
    options.env = env_.get();
  }
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(opts_.block_cache_bytes);
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  // The index sees an overwrite or delete for nearly every put; compacting
  // files dense with tombstones keeps the open-time scan short.
  rocksdb::ColumnFamilyOptions churn = options;
  churn.table_properties_collector_factories.push_back(
      rocksdb::NewCompactOnDeletionCollectorFactory(10000, 5000));
  // The index family holds one small value per key, rewritten on every event: update the
  // memtable entry in place (when the new value is no longer), so the memtable holds about
  // one entry per key instead of every version. It then stays small and cache-resident
  // (cheaper inserts than a growing skip list) and never fills, so there are no flushes
  // and compactions of superseded versions. The WAL bound below flushes it instead.
  churn.inplace_update_support = true;
  // And find that entry by hash: with the whole key as the "prefix" (capped; longer keys
  // only share a bucket), the memtable is a hash table of tiny per-key skip lists, so an
  // update costs a hash instead of a search through a skip list of every key (which was
  // the top of the storage thread's profile). Scans of the family use total_order_seek.
  churn.prefix_extractor.reset(rocksdb::NewCappedPrefixTransform(128));
  // The bucket array lives in the memtable: keep it a small part of it (2 MiB of 32).
  churn.memtable_factory.reset(
      rocksdb::NewHashSkipListRepFactory(std::max<size_t>(1024, opts_.write_buffer_bytes / 128)));
  // Each in-place update write-locks one of these (picked by key hash) against concurrent
  // readers of the entry. The only reader of the family is the open scan and the writer is
  // one thread, so a few locks do: RocksDB's default of 10,000 spreads them over 0.5 MB, a
  // cache miss per update (7 % of the storage thread). micro_index BM_commit_path/1, three
  // interleaved runs each: 1,270-1,320 -> 1,130-1,150 process-CPU ns per event.
  churn.inplace_update_num_locks = 64;
  // In-place updates need single-threaded memtable writes, which dmon's one writer gives.
  options.allow_concurrent_memtable_write = false;
  std::vector<rocksdb::ColumnFamilyDescriptor> families{
      {rocksdb::kDefaultColumnFamilyName, options},
      {"index", churn},
      {"events", options},
      {"state", options},
  };
  std::vector<std::string> existing;
  bool listed = rocksdb::DB::ListColumnFamilies(options, db_path(), &existing).ok();
  auto exists = [&](const char* name) {
    return std::find(existing.begin(), existing.end(), name) != existing.end();
  };
  // Replicas (cluster copies of other owners' index entries) are written as often as the
  // index on a replication-2 node, one small value per key rewritten on every event of
  // that key, and read only by the open scan: the index family's tuning fits them exactly
  // (in the default skip-list memtable of `state`, where they used to be, its search was
  // the top symbol of a replicating node's profile). A read-only open of a database from
  // before the family cannot create it and reads the old place only.
  bool with_replicas = !opts_.read_only || !listed || exists(replicas_family);
  if (with_replicas)
    families.push_back({replicas_family, churn});
  // The expiry order used to be a family of its own (two more writes per
  // indexed event); it is rebuilt from the index now. Open an old one to drop it.
  bool legacy_expiry = listed && exists(legacy_expiry_family);
  if (legacy_expiry)
    families.push_back({legacy_expiry_family, churn});
  rocksdb::DB* raw = nullptr;
  auto s = opts_.read_only
               ? rocksdb::DB::OpenForReadOnly(options, db_path(), families, &handles_, &raw)
               : rocksdb::DB::Open(options, db_path(), families, &handles_, &raw);
  if (!s.ok()) {
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos)
      return error{ec::storage_failure,
                   "data directory '" + opts_.path +
                       "' is in use by another process (is another dmond running with this "
                       "--data-dir?); stop it or give this node its own --data-dir (" +
                       s.ToString() + ")"};
    return failure("cannot open the database in '" + db_path() + "'", s);
  }
  db_.reset(raw);
  meta_cf_ = handles_[0];
  index_cf_ = handles_[1];
  events_cf_ = handles_[2];
  state_cf_ = handles_[3];
  if (with_replicas)
    replicas_cf_ = handles_[4];
  if (legacy_expiry && !opts_.read_only) {
    auto* legacy = handles_.back();
    handles_.pop_back();
    auto dropped = db_->DropColumnFamily(legacy);
    db_->DestroyColumnFamilyHandle(legacy).PermitUncheckedError();
    if (!dropped.ok())
      return failure("cannot drop the old expiry family in '" + db_path() + "'", dropped);
  }

  std::string seq;
  s = db_->Get(rocksdb::ReadOptions{}, meta_cf_, history_seq_key, &seq);
  if (s.ok() && seq.size() == 8)
    next_seq_ = get_u64_be(seq);
  else if (!s.ok() && !s.IsNotFound())
    return failure("cannot read the history sequence in '" + db_path() + "'", s);

  if (!opts_.read_only)
    if (auto r = migrate_legacy_replicas(); !r)
      return r.error();
  if (auto r = rebuild_index(); !r)
    return r.error();
  if (auto r = open_log(); !r)
    return r.error();
  report_.index_entries = mem_.size();
  report_.open_time = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started);
  return std::monostate{};
}

status rocksdb_store::rebuild_index() {
  rocksdb::ReadOptions ro;
  // A one-off sequential pass: do not evict the cache, read ahead in large chunks.
  ro.fill_cache = false;
  ro.readahead_size = 2 << 20;
  // The index family has a prefix extractor (see open_db): read every key, not one prefix.
  ro.total_order_seek = true;
  uint64_t estimate = 0;
  if (db_->GetIntProperty(index_cf_, "rocksdb.estimate-num-keys", &estimate))
    mem_.reserve(estimate);
  std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(ro, index_cf_)};
  std::vector<index::change> chunk;
  chunk.reserve(4096);
  expiry_.reserve(estimate);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto e = enc::decode(view(it->value()));
    if (!e)
      return error{ec::storage_failure,
                   "index entry in '" + db_path() + "' cannot be read: " + e.error().message};
    expiry_.append(expiry_deadline(*e, opts_.default_ttl), view(it->key()));
    // The key is the encoding of the value's host and service, so the value alone
    // places the entry.
    auto hash = index_key::hash(*e);
    chunk.push_back({hash, std::move(*e)});
    if (chunk.size() == 4096) {
      mem_.commit(chunk);
      chunk.clear();
    }
  }
  if (!it->status().ok())
    return failure("cannot read the index in '" + db_path() + "'", it->status());
  mem_.commit(chunk);
  expiry_.heapify();
  return std::monostate{};
}

status rocksdb_store::open_log() {
  index_log_options lo;
  lo.dir = (std::filesystem::path{opts_.path} / "index-log").string();
  lo.sync = opts_.sync;
  lo.read_only = opts_.read_only;
  lo.fault = opts_.fault;
  index_log::replay_report replayed;
  auto log = index_log::open(
      lo, [this](std::string_view payload) { return replay_record(payload); }, replayed);
  if (!log)
    return log.error();
  log_ = std::move(*log);
  report_.log_records = replayed.records;
  for (auto& w : replayed.warnings) {
    spdlog::warn("store: {}", w);
    report_.warnings.push_back(w);
  }
  if (opts_.read_only)
    return std::monostate{};
  // What was replayed goes to RocksDB at once, but in the background: the open does not wait
  // for a million keys' RocksDB writes (the replayed segments stay until it is done).
  cp_requested_ = report_.log_records > 0;
  // Segments without a record (a start without writes, a cut-off tail) hold nothing to
  // checkpoint: gone now, so restarts do not pile them up.
  if (!cp_requested_)
    if (auto r = log_->drop_through(log_->current_segment() - 1); !r)
      return r;
  checkpointer_ = std::thread{[this] { checkpoint_loop(); }};
  return std::monostate{};
}

status rocksdb_store::replay_record(std::string_view payload) {
  std::vector<index::change> changes;
  auto parsed = index_log::read_entries(payload, [&](bool erase, std::string_view bytes) -> status {
    if (erase) {
      auto key = index_key::decode(bytes);
      if (!key)
        return error{ec::storage_failure, "an erased key in the index log does not decode"};
      event e;
      e.host = std::move(key->host);
      e.service = std::move(key->service);
      auto hash = index_key::hash(e);
      changes.push_back({hash, std::move(e), true});
    } else {
      auto e = enc::decode(bytes);
      if (!e)
        return error{ec::storage_failure,
                     "an index entry in the index log does not decode: " + e.error().message};
      auto hash = index_key::hash(*e);
      changes.push_back({hash, std::move(*e), false});
    }
    return std::monostate{};
  });
  if (!parsed)
    return parsed;
  mem_.commit(
      changes,
      [&](size_t i, const event& stored, int64_t deadline, std::optional<int64_t> previous) {
        if (changes[i].erase)
          return;
        if (!previous || deadline < *previous)
          expiry_.schedule(deadline, index_key::encode(stored));
      },
      mark_, [this](const event& e) { note_dirty(e); });
  return std::monostate{};
}

bool rocksdb_store::checkpoint_due(std::chrono::steady_clock::time_point now) const {
  if (log_->bytes() >= opts_.checkpoint_bytes)
    return true;
  return !dirty_.empty() && now - dirty_since_ >= opts_.checkpoint_interval;
}

void rocksdb_store::request_checkpoint_if_due() {
  if (!checkpoint_due(std::chrono::steady_clock::now()))
    return;
  {
    std::lock_guard lk{cp_mtx_};
    if (cp_requested_)
      return;
    cp_requested_ = true;
  }
  cp_cv_.notify_one();
}

status rocksdb_store::run_checkpoint(bool force) {
  std::lock_guard one{cp_run_mtx_};
  uint64_t sealed = 0;
  std::vector<index_key> keys;
  {
    std::lock_guard guard{write_mtx_};
    if (!force && !checkpoint_due(std::chrono::steady_clock::now()))
      return std::monostate{};
    if (dirty_.empty() && log_->bytes() == 0)
      return std::monostate{};
    // Appends from now on go to a new segment; the sealed ones hold only changes of `keys`.
    auto r = log_->rotate();
    if (!r)
      return r.error();
    sealed = *r;
    keys = std::move(dirty_);
    dirty_.clear();
    // Every entry counts as unchanged again; 0 means "no mark".
    if (++mark_ == 0)
      mark_ = 1;
  }
  // Each key's entry as it is now, read from memory without holding up the writers: it may
  // be newer than the sealed segments, but anything in memory is in the log already, so a
  // replay after a crash at any point here ends with the same entry. For the same reason
  // the keys need not reach RocksDB in one atomic batch: they go in batches of a bounded
  // size (a million changed keys would otherwise be a 150 MB batch), and the segments are
  // dropped only after the last one.
  constexpr size_t keys_per_batch = 4096;
  rocksdb::WriteBatch batch;
  std::string key;
  std::string value;
  status written = std::monostate{};
  // Encoded straight from the entries under the index's read lock (no copies); written
  // after each chunk of keys, outside that lock.
  for (size_t from = 0; from < keys.size() && written; from += keys_per_batch) {
    auto chunk = std::span<const index_key>{keys}.subspan(
        from, std::min(keys_per_batch, keys.size() - from));
    mem_.read_keys(chunk, [&](const index_key& k, const event* e) {
      key.clear();
      if (e) {
        index_key::encode_to(*e, key);
        value.clear();
        enc::encode(*e, value);
        batch.Put(index_cf_, key, value);
      } else {
        key = k.encode();
        batch.Delete(index_cf_, key);
      }
    });
    written = write(batch, "an index checkpoint");
    batch.Clear();
  }
  std::unique_lock guard{write_mtx_};
  if (!written) {
    // The sealed segments stay; the next checkpoint writes these keys again.
    if (dirty_.empty())
      dirty_since_ = std::chrono::steady_clock::now();
    dirty_.insert(dirty_.end(), std::make_move_iterator(keys.begin()),
                  std::make_move_iterator(keys.end()));
    return written;
  }
  // Unlinked without the lock: writes go on meanwhile (the segments are no longer counted).
  auto done = log_->release_through(sealed);
  guard.unlock();
  return log_->remove(done);
}

void rocksdb_store::checkpoint_loop() {
  // Background work: on a busy machine the threads that ack (I/O, streams, storage) go
  // first, so a checkpoint's RocksDB write does not show up in the ack latency. A failure
  // (e.g. a container without the right) only leaves the default priority.
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
  std::unique_lock lk{cp_mtx_};
  while (!cp_stop_) {
    // Woken by a write that found the log large or old; else looks by itself, so the last
    // changes before a quiet spell reach RocksDB too.
    cp_cv_.wait_for(lk, opts_.checkpoint_interval, [this] { return cp_stop_ || cp_requested_; });
    if (cp_stop_)
      return;
    // A request is due by definition (a write found it so, or the open replayed the log).
    bool force = cp_requested_;
    cp_requested_ = false;
    lk.unlock();
    auto r = run_checkpoint(force);
    lk.lock();
    if (!r) {
      spdlog::warn(
          "store: index checkpoint failed, retrying in {} ms (the index log keeps "
          "every write meanwhile): {}",
          opts_.checkpoint_interval.count(), r.error().message);
      // Not again at once, however many writes ask.
      cp_cv_.wait_for(lk, opts_.checkpoint_interval, [this] { return cp_stop_; });
      cp_requested_ = false;
    }
  }
}

result<size_t> rocksdb_store::apply(std::span<const event> events) {
  // The last event per key wins, as if the batch had been inserted one by one.
  key_table<uint32_t> last;
  last.reserve(events.size());
  std::vector<keyed_event> latest;
  latest.reserve(events.size());
  for (auto& e : events) {
    auto hash = index_key::hash(e);
    auto [at, added] = last.find_or_add(
        hash,
        [&](uint32_t p) { return latest[p].e.host == e.host && latest[p].e.service == e.service; },
        [&] { return static_cast<uint32_t>(latest.size()); });
    if (added)
      latest.push_back({hash, e});
    else
      latest[at].e = e;
  }
  return apply_latest(latest);
}

result<size_t> rocksdb_store::apply_latest(std::vector<keyed_event>& latest) {
  std::lock_guard guard{write_mtx_};
  if (opts_.read_only)
    return read_only_refusal("index entries");
  auto now = opts_.clock();
  // One log record for the whole write, encoded straight from the events into the log's
  // reused buffer; the expiry order lives in memory (expiry_schedule).
  auto& record = log_->payload();
  size_t kept = 0;
  for (size_t i = 0; i < latest.size(); ++i) {
    auto& w = latest[i];
    w.erase = w.e.state && *w.e.state == "expired";
    // Deleting an absent key writes nothing.
    if (w.erase && !mem_.contains(w.hash, w.e))
      continue;
    if (!w.erase) {
      if (!w.e.ttl)
        w.e.ttl = mem_.default_ttl();
      if (!w.e.time_us)
        w.e.time_us = now;
    }
    if (w.erase) {
      key_buf_.clear();
      index_key::encode_to(w.e, key_buf_);
      index_log::add_erase(record, key_buf_);
    } else {
      index_log::add_put(record, w.e);
    }
    if (kept != i)
      latest[kept] = std::move(w);
    ++kept;
  }
  latest.resize(kept);
  if (kept == 0)
    return size_t{0};
  if (auto r = log_->append(); !r)
    return r.error();
  mem_.commit(
      latest,
      [&](size_t i, const event& stored, int64_t deadline, std::optional<int64_t> previous) {
        if (latest[i].erase)
          return;
        // A later deadline is still covered by the key's existing entry (see
        // expiry_schedule), so only new keys and earlier deadlines are filed: the key is
        // encoded again only then. (The index computed the deadline with the same default ttl.)
        if (!previous || deadline < *previous)
          expiry_.schedule(deadline, index_key::encode(stored));
      },
      mark_, [this](const event& e) { note_dirty(e); });
  request_checkpoint_if_due();
  return kept;
}

result<std::vector<event>> rocksdb_store::expire(int64_t now_us) {
  std::lock_guard guard{write_mtx_};
  if (opts_.read_only)
    return read_only_refusal("expiry deletions");
  auto due = expiry_.due(now_us, [this](const std::string& key) { return mem_.deadline_of(key); });
  auto& record = log_->payload();
  std::vector<index::change> changes;
  std::vector<event> out;
  for (auto& d : due) {
    auto e = mem_.find(d.key);
    if (!e)
      continue;
    index_log::add_erase(record, d.key);
    auto hash = index_key::hash(*e);
    out.push_back(*e);
    changes.push_back({hash, std::move(*e), true});
  }
  if (changes.empty())
    return out;
  if (auto r = log_->append(); !r) {
    // The next sweep must find them again.
    expiry_.restore(std::move(due));
    return r.error();
  }
  mem_.commit(changes, {}, mark_, [this](const event& e) { note_dirty(e); });
  request_checkpoint_if_due();
  return out;
}

status rocksdb_store::append_history(std::span<const event> events) {
  if (events.empty())
    return std::monostate{};
  std::lock_guard guard{write_mtx_};
  auto now = opts_.clock();
  rocksdb::WriteBatch batch;
  std::string value;
  auto seq = next_seq_;
  for (auto& e : events) {
    value.clear();
    if (e.time_us) {
      enc::encode(e, value);
      batch.Put(events_cf_, history_key(*e.time_us, seq++), value);
    } else {
      auto stamped = e;
      stamped.time_us = now;
      enc::encode(stamped, value);
      batch.Put(events_cf_, history_key(now, seq++), value);
    }
  }
  // The sequence is persisted with the events so that a restart never reuses one.
  std::string seq_bytes;
  for (int i = 7; i >= 0; --i)
    seq_bytes.push_back(static_cast<char>(seq >> (8 * i)));
  batch.Put(meta_cf_, history_seq_key, seq_bytes);
  if (auto r = write(batch, "history events"); !r)
    return r;
  next_seq_ = seq;
  return std::monostate{};
}

result<std::vector<event>> rocksdb_store::history(int64_t from_us, int64_t to_us,
                                                  const query::predicate* filter,
                                                  size_t limit) const {
  std::vector<event> out;
  if (from_us >= to_us)
    return out;
  auto upper = ordered(to_us);
  rocksdb::Slice upper_slice{upper};
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(ro, events_cf_)};
  for (it->Seek(ordered(from_us)); it->Valid(); it->Next()) {
    auto e = enc::decode(view(it->value()));
    if (!e)
      return error{ec::storage_failure,
                   "history event in '" + db_path() + "' cannot be read: " + e.error().message};
    if (filter && !filter->matches(*e))
      continue;
    out.push_back(std::move(*e));
    if (limit != 0 && out.size() >= limit)
      return out;
  }
  if (!it->status().ok())
    return failure("cannot read history in '" + db_path() + "'", it->status());
  return out;
}

result<uint64_t> rocksdb_store::approximate_size(rocksdb::ColumnFamilyHandle* cf,
                                                 const std::string& begin,
                                                 const std::string& end) const {
  rocksdb::SizeApproximationOptions sao;
  sao.include_memtables = true;
  sao.include_files = true;
  rocksdb::Range range{begin, end};
  uint64_t size = 0;
  auto s = db_->GetApproximateSizes(sao, cf, &range, 1, &size);
  if (!s.ok())
    return failure("cannot estimate the history size in '" + db_path() + "'", s);
  return size;
}

result<uint64_t> rocksdb_store::history_bytes() const {
  // Every history key starts with 8 bytes of time, so this range covers them all.
  return approximate_size(events_cf_, ordered(min_time), std::string(9, '\xff'));
}

status rocksdb_store::delete_history_before(int64_t time_us) {
  auto begin = ordered(min_time);
  auto end = ordered(time_us);
  auto s = db_->DeleteRange(write_options(), events_cf_, begin, end);
  if (!s.ok())
    return failure("cannot delete old history in '" + db_path() + "'", s);
  // The range tombstone hides the events at once; compacting the range gives
  // the disk space back and lets the size estimate see it.
  rocksdb::Slice b{begin}, e{end};
  rocksdb::CompactRangeOptions cro;
  s = db_->CompactRange(cro, events_cf_, &b, &e);
  if (!s.ok())
    return failure("cannot compact deleted history in '" + db_path() + "'", s);
  return std::monostate{};
}

result<retention_report> rocksdb_store::enforce_retention(int64_t now_us) {
  retention_report report;
  auto before = history_bytes();
  if (!before)
    return before.error();
  report.bytes_before = *before;

  auto oldest = [&]() -> result<std::optional<int64_t>> {
    std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, events_cf_)};
    it->SeekToFirst();
    if (!it->status().ok())
      return failure("cannot read history in '" + db_path() + "'", it->status());
    if (!it->Valid() || it->key().size() < 8)
      return std::optional<int64_t>{};
    return std::optional<int64_t>{enc::get_ordered_i64(view(it->key()))};
  };

  auto max_age = opts_.history_max_age.count();
  if (max_age > 0 && now_us > min_time + max_age) {
    auto cutoff = now_us - max_age;
    auto first = oldest();
    if (!first)
      return first.error();
    if (*first && **first < cutoff) {
      if (auto r = delete_history_before(cutoff); !r)
        return r.error();
      report.deleted_before_us = cutoff;
    }
  }

  if (opts_.history_max_bytes > 0) {
    auto total = history_bytes();
    if (!total)
      return total.error();
    if (*total > opts_.history_max_bytes) {
      auto excess = *total - opts_.history_max_bytes;
      auto first = oldest();
      if (!first)
        return first.error();
      std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, events_cf_)};
      it->SeekToLast();
      if (!it->status().ok())
        return failure("cannot read history in '" + db_path() + "'", it->status());
      if (*first && it->Valid()) {
        // The smallest time whose older events make up the excess; searching
        // on time keeps the cut at an event boundary of whole timestamps.
        int64_t lo = **first;
        int64_t hi = enc::get_ordered_i64(view(it->key())) + 1;
        while (lo < hi) {
          int64_t mid = lo + (hi - lo) / 2;
          auto part = approximate_size(events_cf_, ordered(min_time), ordered(mid));
          if (!part)
            return part.error();
          if (*part >= excess)
            hi = mid;
          else
            lo = mid + 1;
        }
        // Report the time of the oldest event kept, which is what an operator can check.
        it->Seek(ordered(lo));
        if (it->Valid() && it->key().size() >= 8)
          lo = enc::get_ordered_i64(view(it->key()));
        else if (!it->status().ok())
          return failure("cannot read history in '" + db_path() + "'", it->status());
        if (auto r = delete_history_before(lo); !r)
          return r.error();
        report.deleted_before_us = std::max(report.deleted_before_us, lo);
      }
    }
  }

  auto after = history_bytes();
  if (!after)
    return after.error();
  report.bytes_after = *after;
  return report;
}

status rocksdb_store::put_state(std::string_view key, std::string_view bytes) {
  auto s = db_->Put(write_options(), state_cf_, slice(key), slice(bytes));
  if (!s.ok())
    return failure("cannot write stream state '" + std::string{key} + "' to '" + db_path() + "'",
                   s);
  return std::monostate{};
}

result<std::optional<std::string>> rocksdb_store::get_state(std::string_view key) const {
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions{}, state_cf_, slice(key), &value);
  if (s.IsNotFound())
    return std::optional<std::string>{};
  if (!s.ok())
    return failure("cannot read stream state '" + std::string{key} + "' in '" + db_path() + "'", s);
  return std::optional<std::string>{std::move(value)};
}

result<std::vector<std::pair<std::string, std::string>>> rocksdb_store::list_state(
    std::string_view prefix) const {
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, state_cf_)};
  for (it->Seek(slice(prefix)); it->Valid() && it->key().starts_with(slice(prefix)); it->Next())
    out.emplace_back(it->key().ToString(), it->value().ToString());
  if (!it->status().ok())
    return failure("cannot list stream state in '" + db_path() + "'", it->status());
  return out;
}

status rocksdb_store::delete_state(std::string_view key) {
  auto s = db_->Delete(write_options(), state_cf_, slice(key));
  if (!s.ok())
    return failure("cannot delete stream state '" + std::string{key} + "' in '" + db_path() + "'",
                   s);
  return std::monostate{};
}

status rocksdb_store::write_states(std::span<const std::pair<std::string, std::string>> puts,
                                   std::span<const std::string> deletes) {
  rocksdb::WriteBatch batch;
  for (auto& [key, bytes] : puts)
    batch.Put(state_cf_, slice(key), slice(bytes));
  for (auto& key : deletes)
    batch.Delete(state_cf_, slice(key));
  return write(batch, "state entries");
}

status rocksdb_store::write_replicas(std::span<const replica_write> writes) {
  if (writes.empty())
    return std::monostate{};
  if (!replicas_cf_)
    return error{ec::storage_failure, "cannot write replica entries to '" + db_path() +
                                          "': opened read only (before it had a replicas family)"};
  rocksdb::WriteBatch batch;
  // Encoded into reused buffers straight from the events; the batch copies.
  std::string key;
  std::string value;
  for (auto& w : writes) {
    key.clear();
    index_key::encode_to(*w.e, key);
    if (w.erase) {
      batch.Delete(replicas_cf_, key);
    } else {
      value.clear();
      enc::encode(*w.e, value);
      batch.Put(replicas_cf_, key, value);
    }
  }
  return write(batch, "replica entries");
}

result<std::vector<event>> rocksdb_store::load_replicas() const {
  std::vector<event> out;
  auto read = [&](rocksdb::ColumnFamilyHandle* cf, std::string_view prefix) -> status {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    // The replicas family has a prefix extractor (see open_db): read every key.
    ro.total_order_seek = true;
    std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(ro, cf)};
    for (it->Seek(slice(prefix)); it->Valid() && it->key().starts_with(slice(prefix)); it->Next()) {
      auto e = enc::decode(view(it->value()));
      if (!e)
        return error{ec::storage_failure,
                     "replica entry '" + std::string{view(it->key()).substr(prefix.size())} +
                         "' in '" + db_path() + "' does not decode: " + e.error().message};
      out.push_back(std::move(*e));
    }
    if (!it->status().ok())
      return failure("cannot read the replicas in '" + db_path() + "'", it->status());
    return std::monostate{};
  };
  if (replicas_cf_)
    if (auto r = read(replicas_cf_, {}); !r)
      return r.error();
  // Empty once `open` moved them, unless this open is read-only.
  if (auto r = read(state_cf_, legacy_replica_prefix); !r)
    return r.error();
  return out;
}

status rocksdb_store::migrate_legacy_replicas() {
  // Moves replicas a database written before the `replicas` family kept in `state` (key:
  // the prefix + the index key, value: the event) in one atomic write: a crash leaves them
  // in one place or the other, never both or neither.
  std::string_view prefix = legacy_replica_prefix;
  rocksdb::WriteBatch batch;
  std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, state_cf_)};
  for (it->Seek(slice(prefix)); it->Valid() && it->key().starts_with(slice(prefix)); it->Next()) {
    batch.Put(replicas_cf_, slice(view(it->key()).substr(prefix.size())), it->value());
    batch.Delete(state_cf_, it->key());
  }
  if (!it->status().ok())
    return failure("cannot read the old replicas in '" + db_path() + "'", it->status());
  if (batch.Count() == 0)
    return std::monostate{};
  return write(batch, "replica entries moved from the state family");
}

status rocksdb_store::flush() {
  if (!opts_.read_only)
    if (auto r = run_checkpoint(true); !r)
      return r;
  auto s = db_->Flush(rocksdb::FlushOptions{}, handles_);
  if (!s.ok())
    return failure("cannot flush '" + db_path() + "'", s);
  return std::monostate{};
}

}  // namespace

result<std::unique_ptr<store>> store::open(store_options opts) {
  auto s = std::make_unique<rocksdb_store>(std::move(opts));
  if (auto r = s->open_db(); !r)
    return r.error();
  return std::unique_ptr<store>{std::move(s)};
}

}  // namespace dmon
