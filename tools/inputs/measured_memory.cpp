#include "tools/inputs/measured_memory.hpp"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "partition/error.hpp"
#include "tools/inputs/input_file.hpp"
#include "tools/inputs/pickle_reader.hpp"

namespace trainmem::tools {
namespace {

using Kind = PickleValue::Kind;
using Wide = std::int64_t;  // running sums, signed; every step overflow-checked (wide())
constexpr std::size_t kMaxEntryKeys = 64;
constexpr std::int64_t kMaxDevices = 1024;

std::uint64_t round_block(std::uint64_t n) { return n == 0 ? 0 : (n + 511) / 512 * 512; }

class SnapshotReader {
 public:
  SnapshotReader(const std::string& field, const std::string& path, const PickleDocument& doc)
      : field_(field), path_(path), budget_(2 * doc.values + 16) {}

  [[noreturn]] void fail(const std::string& where, const std::string& why) const {
    throw ConfigError(field_, path_, where + ": " + why);
  }
  // Each list item visited costs 1; a file without shared references visits each of its values at most once,
  // so a budget of twice the values made only stops lists repeated through memo references (one list of 1,000
  // entries named 1,000 times as device traces: 10^6 visits from a few kB).
  void spend(std::size_t n, const std::string& where) {
    if (n > budget_) fail(where, "shared references repeat the same entries more often than the file holds values");
    budget_ -= n;
  }
  const PickleValue& dict(const PickleValue* v, const std::string& where) {
    if (v == nullptr || v->kind != Kind::dict)
      fail(where, std::string("is ") + (v ? pickle_kind_name(v->kind) : "missing") + ", not a dict");
    if (v->size() > kMaxEntryKeys) fail(where, "a dict of " + std::to_string(v->size()) + " keys (at most 64)");
    return *v;
  }
  const PickleValue& list(const PickleValue* v, const std::string& where) {
    if (v == nullptr || (v->kind != Kind::list && v->kind != Kind::tuple))
      fail(where, std::string("is ") + (v ? pickle_kind_name(v->kind) : "missing") + ", not a list");
    spend(v->size(), where);
    return *v;
  }
  std::uint64_t size(const PickleValue& d, const char* key, const std::string& where) {
    const PickleValue* v = d.find(key);
    if (v == nullptr) fail(where, std::string("has no '") + key + "'");
    if (v->kind != Kind::integer || v->integer < 0)
      fail(where + "." + key, v->kind == Kind::integer
                                  ? std::to_string(v->integer) + " is negative"
                                  : std::string("is ") + pickle_kind_name(v->kind) + ", not an int");
    return static_cast<std::uint64_t>(v->integer);
  }
  std::int64_t device_of(const PickleValue& seg, const std::string& where) {
    const PickleValue* v = seg.find("device");
    if (v == nullptr) return 0;
    if (v->kind != Kind::integer || v->integer < 0 || v->integer >= kMaxDevices)
      fail(where + ".device", "not a device index 0.." + std::to_string(kMaxDevices - 1));
    return v->integer;
  }
  std::string text(const PickleValue& d, const char* key, const std::string& where) {
    const PickleValue* v = d.find(key);
    if (v == nullptr || v->kind != Kind::string) fail(where + "." + key, "missing or not a str");
    return v->text;
  }

  MeasuredMemory read(const PickleValue& root) {
    const PickleValue& top = dict(&root, "the snapshot");
    const PickleValue* segs_v = top.find("segments");
    const PickleValue* traces_v = top.find("device_traces");
    if (segs_v == nullptr && traces_v == nullptr)
      fail("the snapshot", "has neither 'segments' nor 'device_traces': not a torch.cuda.memory._snapshot()");
    std::map<std::int64_t, MeasuredDevice> devs;
    std::map<std::int64_t, Wide> end_blocks;
    if (segs_v != nullptr) {
      const PickleValue& segs = list(segs_v, "segments");
      for (std::size_t i = 0; i < segs.items.size(); ++i) {
        const std::string w = "segments[" + std::to_string(i) + "]";
        const PickleValue& s = dict(segs.items[i].get(), w);
        MeasuredDevice& d = devs[device_of(s, w)];
        d.segments += 1;
        d.reserved_at_end = add(d.reserved_at_end, size(s, "total_size", w), w);
        const PickleValue& blocks = list(s.find("blocks"), w + ".blocks");
        for (std::size_t k = 0; k < blocks.items.size(); ++k) {
          const std::string bw = w + ".blocks[" + std::to_string(k) + "]";
          const PickleValue& b = dict(blocks.items[k].get(), bw);
          const std::string state = text(b, "state", bw);
          if (state == "inactive") continue;
          if (state != "active_allocated" && state != "active_pending_free" && state != "active_awaiting_free")
            fail(bw + ".state",
                 "'" + state + "' (active_allocated, active_pending_free, active_awaiting_free or inactive)");
          const std::uint64_t n = b.find("requested_size") ? size(b, "requested_size", bw) : size(b, "size", bw);
          d.allocated_at_end = add(d.allocated_at_end, n, bw);
          Wide& eb = end_blocks[device_of(s, w)];
          eb = wide(eb, as_wide(round_block(n), bw, *this), bw);
        }
      }
    }
    if (traces_v != nullptr) {
      const PickleValue& traces = list(traces_v, "device_traces");
      if (static_cast<std::int64_t>(traces.items.size()) > kMaxDevices)
        fail("device_traces", std::to_string(traces.items.size()) + " devices (at most 1024)");
      for (std::size_t dev = 0; dev < traces.items.size(); ++dev)
        replay(devs, static_cast<std::int64_t>(dev), *traces.items[dev], end_blocks[static_cast<std::int64_t>(dev)]);
    }
    MeasuredMemory m;
    for (auto& [id, d] : devs) {
      if (d.trace_entries == 0 && d.segments == 0) continue;
      if (d.trace_entries == 0) {  // segments only: the end state is all there is
        d.allocated_at_start = d.allocated_peak = d.allocated_at_end;
        d.allocated_peak_blocks = static_cast<std::uint64_t>(end_blocks[id]);
        d.reserved_at_start = d.reserved_peak = d.reserved_at_end;
      }
      d.device = id;
      m.devices.push_back(d);
      m.peak = std::max(m.peak, d.allocated_peak_blocks);
      m.reserved_peak = std::max(m.reserved_peak.value_or(0), d.reserved_peak);
    }
    if (m.devices.empty()) fail("the snapshot", "has no segment and no trace entry on any device");
    return m;
  }

 private:
  std::uint64_t add(std::uint64_t a, std::uint64_t b, const std::string& where) const {
    if (b > std::numeric_limits<std::uint64_t>::max() - a) fail(where, "byte total beyond 64 bits");
    return a + b;
  }
  static std::uint64_t narrow(Wide v) { return static_cast<std::uint64_t>(v); }
  Wide wide(Wide a, Wide b, const std::string& where) const {
    Wide r = 0;
    if (__builtin_add_overflow(a, b, &r)) fail(where, "byte total beyond 63 bits");
    return r;
  }
  static Wide as_wide(std::uint64_t v, const std::string& where, const SnapshotReader& self) {
    if (v > static_cast<std::uint64_t>(std::numeric_limits<Wide>::max())) self.fail(where, "a size beyond 2^63");
    return static_cast<Wide>(v);
  }

  // Two passes: the deltas give the bytes live at the trace's start (end state minus the trace), then the peaks.
  void replay(std::map<std::int64_t, MeasuredDevice>& devs, std::int64_t dev, const PickleValue& trace_v,
              Wide end_blocks) {
    const std::string w = "device_traces[" + std::to_string(dev) + "]";
    const PickleValue& trace = list(&trace_v, w);
    if (trace.items.empty()) return;
    MeasuredDevice& d = devs[dev];
    struct Delta {
      int which;
      Wide bytes, blocks;
      std::uint64_t entry;
    };  // which: 0 allocated, 1 reserved
    std::vector<Delta> deltas;
    Wide alloc_sum = 0, block_sum = 0, reserved_sum = 0;
    for (std::size_t i = 0; i < trace.items.size(); ++i) {
      const std::string ew = w + "[" + std::to_string(i) + "]";
      const PickleValue& e = dict(trace.items[i].get(), ew);
      const std::string action = text(e, "action", ew);
      d.trace_entries += 1;
      int sign = 0, which = 0;
      if (action == "alloc")
        sign = 1, d.allocs += 1;
      else if (action == "free_completed")
        sign = -1, d.frees += 1;
      else if (action == "segment_alloc" || action == "segment_map")
        sign = 1, which = 1;
      else if (action == "segment_free" || action == "segment_unmap")
        sign = -1, which = 1;
      else
        continue;  // free_requested, oom, snapshot, annotate, ...: no bytes change hands
      const std::uint64_t n = size(e, "size", ew);
      const Wide bytes = sign * as_wide(n, ew + ".size", *this);
      const Wide blocks = sign * as_wide(round_block(n), ew + ".size", *this);
      deltas.push_back({which, bytes, blocks, i});
      Wide& sum = which == 0 ? alloc_sum : reserved_sum;
      sum = wide(sum, bytes, ew);
      if (which == 0) block_sum = wide(block_sum, blocks, ew);
    }
    for (Wide x : {alloc_sum, block_sum, reserved_sum})
      if (x == std::numeric_limits<Wide>::min()) fail(w, "byte total beyond 63 bits");
    Wide alloc = wide(as_wide(d.allocated_at_end, w, *this), -alloc_sum, w);
    Wide blocks = wide(end_blocks, -block_sum, w);
    Wide reserved = wide(as_wide(d.reserved_at_end, w, *this), -reserved_sum, w);
    if (alloc < 0 || blocks < 0 || reserved < 0)
      fail(w, "the trace allocates more than the segments hold at the end (a snapshot edited or of another run)");
    d.allocated_at_start = narrow(alloc);
    d.reserved_at_start = narrow(reserved);
    Wide peak_a = alloc, peak_b = blocks, peak_r = reserved;
    d.timeline.reserve(deltas.size() + 1);
    d.timeline.push_back({0, narrow(blocks), narrow(reserved)});
    for (const Delta& x : deltas) {
      if (x.which == 0) {
        alloc = wide(alloc, x.bytes, w);
        blocks = wide(blocks, x.blocks, w);
      } else {
        reserved = wide(reserved, x.bytes, w);
      }
      if (alloc < 0 || blocks < 0 || reserved < 0)
        fail(w, "the trace frees more than was allocated (a free_completed or segment_free without its alloc)");
      peak_a = std::max(peak_a, alloc), peak_b = std::max(peak_b, blocks), peak_r = std::max(peak_r, reserved);
      d.timeline.push_back({x.entry + 1, narrow(blocks), narrow(reserved)});
    }
    d.allocated_peak = narrow(peak_a), d.allocated_peak_blocks = narrow(peak_b), d.reserved_peak = narrow(peak_r);
  }

  const std::string& field_;
  const std::string& path_;
  std::size_t budget_;
};

std::uint64_t json_bytes(const nlohmann::json& j, const char* key, const std::string& field, const std::string& path,
                         const std::string& where) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number_unsigned())
    throw ConfigError(field, path, where + "." + key + " is missing or not a non-negative integer");
  return j[key].get<std::uint64_t>();
}

MeasuredMemory from_lab_json(const std::string& field, const std::string& path, const std::string& bytes) {
  if (bytes.size() > kMaxInputFileBytes)
    throw ConfigError(field, path, "is not a pickle (first byte 0x80) and, as JSON, larger than 16 MiB");
  const nlohmann::json j = nlohmann::json::parse(bytes, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw ConfigError(field, path, "neither a pickle (first byte 0x80) nor a JSON object (a lab result)");
  if (!j.contains("measured") || !j["measured"].is_object())
    throw ConfigError(field, path, "a JSON file without 'measured': not a tools/groundtruth lab result");
  const nlohmann::json& m = j["measured"];
  MeasuredMemory out;
  out.source = MeasuredMemory::Source::lab_json;
  out.peak = json_bytes(m, "max_peak_bytes", field, path, "measured");
  if (!m.contains("ranks") || !m["ranks"].is_array() || m["ranks"].empty())
    throw ConfigError(field, path, "measured.ranks is missing or empty");
  const nlohmann::json* top = nullptr;
  for (const auto& r : m["ranks"])
    if (top == nullptr ||
        json_bytes(r, "peak_bytes", field, path, "measured.ranks[]") > (*top)["peak_bytes"].get<std::uint64_t>())
      top = &r;
  if (json_bytes(*top, "peak_bytes", field, path, "measured.ranks[]") != out.peak)
    throw ConfigError(field, path, "measured.max_peak_bytes is not the largest rank's peak_bytes");
  if (top->contains("peak_bytes_unrounded"))
    out.peak_unrounded = json_bytes(*top, "peak_bytes_unrounded", field, path, "measured.ranks[]");
  if (top->contains("reserved_emulated"))
    out.reserved_peak = json_bytes((*top)["reserved_emulated"], "peak_reserved", field, path, "reserved_emulated");
  if (top->contains("phase") && (*top)["phase"].is_string()) out.phase = (*top)["phase"].get<std::string>();
  if (j.contains("name") && j["name"].is_string()) out.name = j["name"].get<std::string>();
  if (top->contains("categories")) {
    const nlohmann::json& c = (*top)["categories"];
    if (!c.is_object()) throw ConfigError(field, path, "measured.ranks[].categories is not an object");
    for (const auto& [k, v] : c.items()) out.categories[k] = json_bytes(c, k.c_str(), field, path, "categories");
  }
  return out;
}

}  // namespace

MeasuredMemory measured_from_bytes(const std::string& field, const std::string& path, const std::string& bytes) {
  MeasuredMemory m;
  if (!bytes.empty() && static_cast<unsigned char>(bytes[0]) == 0x80) {
    const PickleDocument doc = read_pickle(bytes, field, path);
    m = SnapshotReader(field, path, doc).read(*doc.root);
  } else {
    m = from_lab_json(field, path, bytes);
  }
  m.path = path;
  return m;
}

MeasuredMemory read_measured_memory(const std::string& field, const std::string& path) {
  return measured_from_bytes(field, path, read_input_file(field, path, "a memory snapshot", kMaxSnapshotBytes));
}

}  // namespace trainmem::tools
