// The index log: framing, replay with torn-tail cutting, segment rotation.
#include "index_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "crc32c.hpp"
#include "event_encoding.hpp"

namespace dmon {

namespace {

namespace fs = std::filesystem;

constexpr size_t header_bytes = 8;
// A record larger than this is a corrupt length field, not a record (a commit group of
// 20,000 writes is a few MiB).
constexpr uint32_t max_record = uint32_t{1} << 30;

void put_u32(char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out[i] = static_cast<char>(v >> (8 * i));
}

uint32_t get_u32(const char* in) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

uint32_t record_crc(const char* header, std::string_view payload) {
  return crc32c(crc32c(0, {header, 4}), payload);
}

std::string errno_text(int err) {
  return std::error_code{err, std::system_category()}.message();
}

// Reads a whole segment; segments are bounded by the store's checkpoint size.
result<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return error{ec::storage_failure,
                 "cannot read the index log '" + path + "': " + errno_text(errno)};
  std::string out;
  char buf[1 << 16];
  for (;;) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      auto err = errno;
      ::close(fd);
      return error{ec::storage_failure,
                   "cannot read the index log '" + path + "': " + errno_text(err)};
    }
    if (n == 0)
      break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// Segment numbers found in `dir`, ascending; other files are left alone.
result<std::vector<uint64_t>> list_segments(const std::string& dir) {
  std::vector<uint64_t> out;
  std::error_code err;
  if (!fs::exists(dir, err))
    return out;
  for (auto& entry : fs::directory_iterator(dir, err)) {
    auto name = entry.path().filename().string();
    if (name.size() <= 4 || !name.ends_with(".log"))
      continue;
    auto digits = name.substr(0, name.size() - 4);
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    out.push_back(std::stoull(digits));
  }
  if (err)
    return error{ec::storage_failure,
                 "cannot list the index log directory '" + dir + "': " + err.message()};
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

result<std::unique_ptr<index_log>> index_log::open(index_log_options opts, const record_fn& fn,
                                                   replay_report& report) {
  std::unique_ptr<index_log> log{new index_log(std::move(opts))};
  auto& o = log->opts_;
  if (!o.read_only) {
    std::error_code err;
    fs::create_directories(o.dir, err);
    if (err)
      return error{ec::storage_failure, "cannot create the index log directory '" + o.dir +
                                            "': " + err.message() +
                                            "; point --data-dir at a writable directory"};
  }
  auto segments = list_segments(o.dir);
  if (!segments)
    return segments.error();
  for (auto n : *segments) {
    auto path = log->segment_path(n);
    auto bytes = read_file(path);
    if (!bytes)
      return bytes.error();
    std::string_view data = *bytes;
    size_t at = 0;
    std::string problem;
    while (at < data.size()) {
      if (data.size() - at < header_bytes) {
        problem = "a torn record header";
        break;
      }
      auto len = get_u32(data.data() + at);
      if (len == 0 || len > max_record) {
        problem = "an impossible record length";
        break;
      }
      if (data.size() - at - header_bytes < len) {
        problem = "a torn record";
        break;
      }
      auto payload = data.substr(at + header_bytes, len);
      if (record_crc(data.data() + at, payload) != get_u32(data.data() + at + 4)) {
        problem = "a checksum mismatch";
        break;
      }
      if (auto r = fn(payload); !r)
        return error{ec::storage_failure, "cannot replay the index log '" + path + "' at offset " +
                                              std::to_string(at) + ": " + r.error().message};
      ++report.records;
      at += header_bytes + len;
    }
    if (at < data.size()) {
      // Count the records from the cut on while their lengths still chain, to say what is lost.
      size_t dropped = 0;
      for (size_t p = at; data.size() - p >= header_bytes;) {
        auto len = get_u32(data.data() + p);
        if (len == 0 || len > max_record || data.size() - p - header_bytes < len)
          break;
        ++dropped;
        p += header_bytes + len;
      }
      auto line = "index log '" + path + "': " + problem + " at offset " + std::to_string(at) +
                  " of " + std::to_string(data.size()) + " bytes; replayed the " +
                  std::to_string(report.records) + " records before it, dropped " +
                  std::to_string(data.size() - at) + " bytes (" + std::to_string(dropped) +
                  " records by their lengths)";
      if (!o.read_only) {
        if (::truncate(path.c_str(), static_cast<off_t>(at)) != 0)
          return error{ec::storage_failure, "cannot cut the damaged index log '" + path +
                                                "' at offset " + std::to_string(at) + ": " +
                                                errno_text(errno)};
        line += "; the file was cut there";
      }
      report.warnings.push_back(std::move(line));
    }
    ++report.segments;
    log->sealed_.emplace_back(n, at);
    log->sealed_bytes_ += at;
    log->current_ = n;
  }
  if (!o.read_only)
    if (auto r = log->start_segment(log->current_ + 1); !r)
      return r.error();
  return log;
}

index_log::~index_log() {
  if (fd_ >= 0)
    ::close(fd_);
}

std::string index_log::segment_path(uint64_t n) const {
  auto name = std::to_string(n);
  name.insert(0, 20 - std::min<size_t>(20, name.size()), '0');
  return (fs::path{opts_.dir} / (name + ".log")).string();
}

status index_log::sync_dir() const {
  if (!opts_.sync)
    return std::monostate{};
  int fd = ::open(opts_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return error{ec::storage_failure,
                 "cannot sync the index log directory '" + opts_.dir + "': " + errno_text(errno)};
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0)
    return error{ec::storage_failure,
                 "cannot sync the index log directory '" + opts_.dir + "': " + errno_text(err)};
  return std::monostate{};
}

status index_log::start_segment(uint64_t n) {
  if (opts_.read_only)
    return error{ec::storage_failure,
                 "cannot write the index log in '" + opts_.dir + "': opened read only"};
  auto path = segment_path(n);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    return error{ec::storage_failure,
                 "cannot create the index log '" + path + "': " + errno_text(errno) +
                     "; check that the data directory is writable and the disk has room"};
  if (auto r = sync_dir(); !r) {
    ::close(fd);
    return r;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    sealed_.emplace_back(current_, size_);
    sealed_bytes_ += size_;
  }
  fd_ = fd;
  current_ = n;
  size_ = 0;
  broken_ = false;
  return std::monostate{};
}

result<uint64_t> index_log::rotate() {
  auto sealed = current_;
  if (auto r = start_segment(current_ + 1); !r)
    return r.error();
  return sealed;
}

status index_log::drop_through(uint64_t upto) {
  return remove(release_through(upto));
}

std::vector<std::string> index_log::release_through(uint64_t upto) {
  std::vector<std::string> out;
  auto kept = std::remove_if(sealed_.begin(), sealed_.end(), [&](auto& s) {
    if (s.first > upto || s.first == current_)
      return false;
    out.push_back(segment_path(s.first));
    sealed_bytes_ -= s.second;
    return true;
  });
  sealed_.erase(kept, sealed_.end());
  return out;
}

status index_log::remove(const std::vector<std::string>& paths) const {
  std::string failed;
  for (auto& path : paths)
    if (::unlink(path.c_str()) != 0 && errno != ENOENT && failed.empty())
      failed = path + ": " + errno_text(errno);
  if (!failed.empty())
    return error{ec::storage_failure, "cannot remove the checkpointed index log '" + failed +
                                          "'; it is replayed (harmlessly) at the next start"};
  if (paths.empty())
    return std::monostate{};
  return sync_dir();
}

std::string& index_log::payload() {
  buffer_.resize(header_bytes);
  return buffer_;
}

status index_log::append() {
  if (buffer_.size() <= header_bytes)
    return std::monostate{};
  return write_framed(buffer_.data(), buffer_.size());
}

status index_log::append(std::string_view bytes) {
  payload().append(bytes);
  return append();
}

status index_log::write_framed(char* data, size_t n) {
  if (opts_.read_only || fd_ < 0)
    return error{ec::storage_failure,
                 "cannot write the index log in '" + opts_.dir + "': opened read only"};
  if (broken_)
    if (auto r = start_segment(current_ + 1); !r)
      return r;
  auto path = [&] { return segment_path(current_); };
  auto fail = [&](const std::string& why) -> status {
    // Cut a partial record off, so the records appended later are not behind a torn one.
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0)
      broken_ = true;
    return error{ec::storage_failure, "cannot append to the index log '" + path() + "': " + why +
                                          "; nothing was written: free space on the disk of '" +
                                          opts_.dir +
                                          "' (writes succeed again once there is room)"};
  };
  if (opts_.fault && opts_.fault->fail)
    return fail("No space left on device (injected)");
  auto len = static_cast<uint32_t>(n - header_bytes);
  put_u32(data, len);
  put_u32(data + 4, record_crc(data, {data + header_bytes, len}));
  size_t done = 0;
  while (done < n) {
    auto w = ::write(fd_, data + done, n - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return fail(errno_text(errno));
    if (w == 0)
      return fail("the write wrote nothing");
    done += static_cast<size_t>(w);
  }
  if (opts_.sync && ::fdatasync(fd_) != 0)
    return fail(errno_text(errno));
  size_ += n;
  return std::monostate{};
}

void index_log::add_put(std::string& payload, const event& e) {
  payload.push_back('P');
  auto at = payload.size();
  payload.append(4, '\0');
  storage_encoding::encode(e, payload);
  put_u32(payload.data() + at, static_cast<uint32_t>(payload.size() - at - 4));
}

void index_log::add_erase(std::string& payload, std::string_view encoded_key) {
  payload.push_back('E');
  char len[4];
  put_u32(len, static_cast<uint32_t>(encoded_key.size()));
  payload.append(len, 4);
  payload.append(encoded_key);
}

status index_log::read_entries(std::string_view payload,
                               const std::function<status(bool, std::string_view)>& fn) {
  size_t at = 0;
  while (at < payload.size()) {
    if (payload.size() - at < 5 || (payload[at] != 'P' && payload[at] != 'E'))
      return error{ec::storage_failure,
                   "malformed index log entry at byte " + std::to_string(at) + " of a record"};
    bool erase = payload[at] == 'E';
    auto len = get_u32(payload.data() + at + 1);
    if (payload.size() - at - 5 < len)
      return error{ec::storage_failure,
                   "truncated index log entry at byte " + std::to_string(at) + " of a record"};
    if (auto r = fn(erase, payload.substr(at + 5, len)); !r)
      return r;
    at += 5 + len;
  }
  return std::monostate{};
}

}  // namespace dmon
