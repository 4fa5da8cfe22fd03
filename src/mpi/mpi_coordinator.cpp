#include "cairn/mpi.hpp"

#include <cstdio>
#include <cstring>
#include <thread>

#include "cairn/error.hpp"

namespace cairn {
namespace {

using Clock = std::chrono::steady_clock;

// Results travel as one message: a status byte ('o' all arrived, 'x' rank 0 gave up, then its
// reason), then each rank's text as an 8-byte length and its bytes.
constexpr char kAllArrived = 'o', kGaveUp = 'x';

std::string pack(const std::vector<std::string>& texts) {
  std::string packed(1, kAllArrived);
  for (const std::string& text : texts) {
    const uint64_t size = text.size();
    packed.append(reinterpret_cast<const char*>(&size), sizeof(size));
    packed += text;
  }
  return packed;
}

std::vector<std::string> unpack(const std::string& packed, int ranks) {
  std::vector<std::string> texts;
  size_t at = 1;
  for (int r = 0; r < ranks; ++r) {
    uint64_t size = 0;
    if (packed.size() - at < sizeof(size)) throw RankError("a malformed message from rank 0");
    std::memcpy(&size, packed.data() + at, sizeof(size));
    at += sizeof(size);
    if (packed.size() - at < size) throw RankError("a malformed message from rank 0");
    texts.push_back(packed.substr(at, size));
    at += size;
  }
  return texts;
}

void check(int code, const char* call) {
  if (code != MPI_SUCCESS) throw RankError(std::string(call) + " failed with MPI error " + std::to_string(code));
}

// Sleeps a little longer each time, up to 1 ms: ranks may share cores (oversubscribed jobs), so
// a waiting rank must leave them to the ranks still working.
class Backoff {
 public:
  void pause() {
    std::this_thread::sleep_for(delay_);
    delay_ = std::min(delay_ * 2, std::chrono::microseconds(1000));
  }

 private:
  std::chrono::microseconds delay_{20};
};

// Receives the message from `source` with `tag` if one has arrived; false otherwise.
bool try_receive(MPI_Comm comm, int source, int tag, std::string& into) {
  int arrived = 0;
  MPI_Status status;
  check(MPI_Iprobe(source, tag, comm, &arrived, &status), "MPI_Iprobe");
  if (!arrived) return false;
  int count = 0;
  check(MPI_Get_count(&status, MPI_CHAR, &count), "MPI_Get_count");
  into.assign(static_cast<size_t>(count), '\0');
  check(MPI_Recv(into.data(), count, MPI_CHAR, source, tag, comm, MPI_STATUS_IGNORE), "MPI_Recv");
  return true;
}

std::string seconds_text(std::chrono::milliseconds timeout) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.3g s", static_cast<double>(timeout.count()) / 1000.0);
  return text;
}

}  // namespace

MpiCoordinator::MpiCoordinator(MPI_Comm comm, std::chrono::milliseconds timeout)
    : timeout_(timeout) {
  check(MPI_Comm_dup(comm, &comm_), "MPI_Comm_dup");
  check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
}

MpiCoordinator::~MpiCoordinator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!broken_ && !finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

std::vector<std::string> MpiCoordinator::all_gather(const std::string& mine,
                                                    std::string_view what) {
  if (broken_) {
    throw RankError("cannot coordinate " + std::string(what) +
                    ": the ranks are out of step since an earlier timeout");
  }
  if (size_ == 1) return {mine};
  // A tag per call keeps a late message of an abandoned call from answering a later one.
  int* tag_upper_bound = nullptr;
  int found = 0;
  MPI_Comm_get_attr(comm_, MPI_TAG_UB, &tag_upper_bound, &found);
  const int tags = found && tag_upper_bound != nullptr ? std::min(*tag_upper_bound, 1 << 20) : 32767;
  const int tag = static_cast<int>(calls_++ % static_cast<uint64_t>(tags));
  try {
    return rank_ == 0 ? gather_as_root(mine, what, tag) : gather_as_member(mine, what, tag);
  } catch (const RankError&) {
    broken_ = true;
    throw;
  }
}

std::vector<std::string> MpiCoordinator::gather_as_root(const std::string& mine,
                                                        std::string_view what, int tag) {
  std::vector<std::string> texts(static_cast<size_t>(size_));
  std::vector<bool> arrived(static_cast<size_t>(size_), false);
  texts[0] = mine;
  arrived[0] = true;
  int waiting = size_ - 1;
  const auto deadline = Clock::now() + timeout_;
  Backoff backoff;
  while (waiting > 0 && Clock::now() < deadline) {
    bool any = false;
    for (int r = 1; r < size_; ++r) {
      if (!arrived[r] && try_receive(comm_, r, tag, texts[r])) {
        arrived[r] = true;
        --waiting;
        any = true;
      }
    }
    if (!any) backoff.pause();
  }
  std::string packed;
  std::string missing;
  if (waiting == 0) {
    packed = pack(texts);
  } else {
    for (int r = 1; r < size_; ++r) {
      if (!arrived[r]) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    }
    packed = std::string(1, kGaveUp) + "rank(s) " + missing + " did not reach " +
             std::string(what) + " within " + seconds_text(timeout_);
  }
  // Every other rank gets the outcome, also the missing ones should they arrive late.
  auto buffer = std::make_unique<std::string>(std::move(packed));
  std::vector<MPI_Request> sends(static_cast<size_t>(size_ - 1));
  for (int r = 1; r < size_; ++r) {
    check(MPI_Isend(buffer->data(), static_cast<int>(buffer->size()), MPI_CHAR, r, tag, comm_,
                    &sends[static_cast<size_t>(r - 1)]),
          "MPI_Isend");
  }
  if (waiting > 0) {
    abandoned_.push_back(std::move(buffer));
    throw RankError(abandoned_.back()->substr(1));
  }
  // Large results need the receivers to take them; they are polling for exactly this.
  const auto send_deadline = Clock::now() + timeout_;
  int done = 0;
  while (true) {
    check(MPI_Testall(static_cast<int>(sends.size()), sends.data(), &done, MPI_STATUSES_IGNORE),
          "MPI_Testall");
    if (done) return texts;
    if (Clock::now() >= send_deadline) {
      abandoned_.push_back(std::move(buffer));
      throw RankError("other ranks did not take the outcome of " + std::string(what) + " within " +
                      seconds_text(timeout_));
    }
    backoff.pause();
  }
}

std::vector<std::string> MpiCoordinator::gather_as_member(const std::string& mine,
                                                          std::string_view what, int tag) {
  auto buffer = std::make_unique<std::string>(mine);
  MPI_Request send;
  check(MPI_Isend(buffer->data(), static_cast<int>(buffer->size()), MPI_CHAR, 0, tag, comm_, &send),
        "MPI_Isend");
  // Twice rank 0's wait: rank 0's verdict (who is missing) should reach us before our own
  // deadline ends the wait.
  const auto deadline = Clock::now() + 2 * timeout_;
  Backoff backoff;
  std::string packed;
  bool received = false;
  int sent = 0;
  while (Clock::now() < deadline) {
    if (!sent) check(MPI_Test(&send, &sent, MPI_STATUS_IGNORE), "MPI_Test");
    if (!received) received = try_receive(comm_, 0, tag, packed);
    if (received && sent) break;
    if (!received) backoff.pause();
  }
  if (!received || !sent) {
    abandoned_.push_back(std::move(buffer));
    throw RankError("rank 0 did not answer at " + std::string(what) + " within " +
                    seconds_text(2 * timeout_));
  }
  if (packed.empty() || packed[0] == kGaveUp) {
    throw RankError("rank 0 gave up: " + (packed.empty() ? std::string() : packed.substr(1)));
  }
  return unpack(packed, size_);
}

}  // namespace cairn
