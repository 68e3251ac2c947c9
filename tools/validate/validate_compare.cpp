#include "tools/validate/validate_compare.hpp"

#include <iomanip>
#include <set>
#include <sstream>

#include "partition/error.hpp"
#include "tools/report/format.hpp"

namespace trainmem::tools {

std::string serialize(const RankMeasurement& m) {
  std::ostringstream o;
  o << std::setprecision(17);
  o << "rank\t" << m.rank << "\nhost\t" << m.host << "\nruntime_init\t" << m.runtime_init << "\nrss_after_init\t"
    << m.rss_after_init << "\ncomm_init\t" << m.comm_init << "\nmodel_states_rss\t" << m.model_states_rss
    << "\ncollective_peak\t" << m.collective_peak << "\ntemporaries_peak\t" << m.temporaries_peak << "\nstaging\t"
    << m.staging << "\ndevice_context\t" << m.device_context << "\ndevice_comm_init\t" << m.device_comm_init
    << "\ndevice_model_states\t" << m.device_model_states << "\ndevice_collective_peak\t" << m.device_collective_peak
    << "\ndevice\t" << m.device << "\nchecked\t" << m.checked << "\nwrong\t" << m.wrong << "\nmax_abs_error\t"
    << m.max_abs_error << "\nseconds\t" << m.seconds_fill << "\t" << m.seconds_collectives << "\t" << m.seconds_check
    << "\n";
  for (const auto& b : m.buffers)
    o << "buffer\t" << b.label << "\t" << b.category << "\t" << b.bytes << "\t" << b.reserved << "\t" << b.elements
      << "\n";
  return o.str();
}

RankMeasurement deserialize(const std::string& text) {
  RankMeasurement m;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::size_t pos = 0;
    for (;;) {
      const auto tab = line.find('\t', pos);
      f.push_back(line.substr(pos, tab == std::string::npos ? std::string::npos : tab - pos));
      if (tab == std::string::npos) break;
      pos = tab + 1;
    }
    if (f.size() < 2) throw Error("malformed measurement line: '" + line + "'");
    const std::string& k = f[0];
    auto u = [&](std::size_t i) { return static_cast<std::uint64_t>(std::stoull(f.at(i))); };
    auto d = [&](std::size_t i) { return std::stod(f.at(i)); };
    if (k == "rank")
      m.rank = std::stoll(f[1]);
    else if (k == "host")
      m.host = f[1];
    else if (k == "runtime_init")
      m.runtime_init = u(1);
    else if (k == "rss_after_init")
      m.rss_after_init = u(1);
    else if (k == "comm_init")
      m.comm_init = u(1);
    else if (k == "model_states_rss")
      m.model_states_rss = u(1);
    else if (k == "collective_peak")
      m.collective_peak = u(1);
    else if (k == "temporaries_peak")
      m.temporaries_peak = u(1);
    else if (k == "staging")
      m.staging = u(1);
    else if (k == "device_context")
      m.device_context = u(1);
    else if (k == "device_comm_init")
      m.device_comm_init = u(1);
    else if (k == "device_model_states")
      m.device_model_states = u(1);
    else if (k == "device_collective_peak")
      m.device_collective_peak = u(1);
    else if (k == "device")
      m.device = f[1];
    else if (k == "checked")
      m.checked = u(1);
    else if (k == "wrong")
      m.wrong = u(1);
    else if (k == "max_abs_error")
      m.max_abs_error = d(1);
    else if (k == "seconds") {
      m.seconds_fill = d(1);
      m.seconds_collectives = d(2);
      m.seconds_check = d(3);
    } else if (k == "buffer") {
      m.buffers.push_back(MeasuredCategoryBuffer{f.at(1), f.at(2), u(3), u(4), u(5)});
    } else {
      throw Error("unknown measurement field '" + k + "'");
    }
  }
  return m;
}

std::uint64_t rss_tolerance(std::size_t buffers) { return buffers * 4 * kKiB + 512 * kKiB; }

std::vector<CompareRow> compare_rank(const std::map<std::string, Bytes>& predicted, const RankMeasurement& measured) {
  std::map<std::string, std::uint64_t> got;
  std::set<std::string> names;
  for (const auto& [cat, b] : predicted) names.insert(cat);
  for (const auto& b : measured.buffers) {
    got[b.category] += b.bytes;
    names.insert(b.category);
  }
  std::vector<CompareRow> rows;
  std::uint64_t total_predicted = 0;
  for (const std::string& cat : names) {
    const auto p = predicted.find(cat);
    CompareRow r;
    r.rank = measured.rank;
    r.item = cat;
    r.predicted = p == predicted.end() ? 0 : p->second.value;
    r.measured = got[cat];
    r.tolerance = 0;
    total_predicted += r.predicted;
    rows.push_back(r);
  }
  CompareRow rss;
  rss.rank = measured.rank;
  rss.item = "model states (RssAnon)";
  rss.predicted = total_predicted;
  rss.measured = measured.model_states_rss;
  rss.tolerance = rss_tolerance(measured.buffers.size());
  rss.exact = false;
  rows.push_back(rss);
  CompareRow upd;
  upd.rank = measured.rank;
  upd.item = "update: wrong elements";
  upd.predicted = 0;
  upd.measured = measured.wrong;
  upd.tolerance = 0;
  upd.exact = false;
  rows.push_back(upd);
  return rows;
}

namespace {
// (Not `"+" + to_string(v)`: GCC 12 at -O3 reports a false -Wrestrict on it, GCC bug 105651.)
std::string signed_text(std::int64_t v) {
  std::string s = std::to_string(v);
  if (v > 0) s.insert(s.begin(), '+');
  return s;
}
}  // namespace

bool write_validation_table(std::ostream& out, const TableContext& ctx, const std::vector<CompareRow>& rows,
                            const std::vector<RankMeasurement>& ranks, bool device_figures) {
  for (const auto& h : ctx.header) out << "# " << h << "\n";
  out << "#\n";
  out << "# " << std::setw(4) << "rank"
      << "  " << std::left << std::setw(24) << "category" << std::right << std::setw(14) << "predicted" << std::setw(14)
      << "measured" << std::setw(11) << "delta" << std::setw(11) << "tolerance"
      << "  verdict\n";
  out << "# " << std::setw(4) << ""
      << "  " << std::setw(24) << "" << std::setw(14) << "(B)" << std::setw(14) << "(B)" << std::setw(11) << "(B)"
      << std::setw(11) << "(B)"
      << "\n";
  bool all_ok = true;
  std::size_t exact_rows = 0, exact_ok = 0;
  std::uint64_t wrong = 0, checked = 0;
  for (const auto& r : rows) {
    out << "  " << std::setw(4) << r.rank << "  " << std::left << std::setw(24) << r.item << std::right << std::setw(14)
        << r.predicted << std::setw(14) << r.measured << std::setw(11) << signed_text(r.delta()) << std::setw(11)
        << r.tolerance << "  " << (r.ok() ? "OK" : "FAIL") << "\n";
    all_ok = all_ok && r.ok();
    if (r.exact) {
      ++exact_rows;
      exact_ok += r.ok() ? 1 : 0;
    }
  }
  for (const auto& m : ranks) {
    wrong += m.wrong;
    checked += m.checked;
  }
  out << "#\n# Phases (measured; RssAnon deltas per rank, host bytes unless marked device)\n";
  out << "# " << std::setw(4) << "rank" << std::setw(14) << "mpi_init" << std::setw(14) << "comm_init" << std::setw(14)
      << "model_states" << std::setw(14) << "coll_peak" << std::setw(14) << "temporaries" << std::setw(14)
      << "mpi_scratch" << std::setw(10) << "fill_s" << std::setw(10) << "coll_s" << std::setw(10) << "check_s"
      << "\n";
  for (const auto& m : ranks) {
    const std::uint64_t scratch = m.collective_peak > m.temporaries_peak ? m.collective_peak - m.temporaries_peak : 0;
    out << "  " << std::setw(4) << m.rank << std::setw(14) << m.runtime_init << std::setw(14) << m.comm_init
        << std::setw(14) << m.model_states_rss << std::setw(14) << m.collective_peak << std::setw(14)
        << m.temporaries_peak << std::setw(14) << scratch << std::setw(10) << fixed(m.seconds_fill, 3) << std::setw(10)
        << fixed(m.seconds_collectives, 3) << std::setw(10) << fixed(m.seconds_check, 3) << "\n";
  }
  if (device_figures) {
    out << "#\n# Device (cudaMemGetInfo used-memory deltas)\n";
    out << "# " << std::setw(4) << "rank" << std::setw(14) << "context" << std::setw(14) << "nccl_comm" << std::setw(14)
        << "model_states" << std::setw(14) << "coll_peak"
        << "  device\n";
    for (const auto& m : ranks)
      out << "  " << std::setw(4) << m.rank << std::setw(14) << m.device_context << std::setw(14) << m.device_comm_init
          << std::setw(14) << m.device_model_states << std::setw(14) << m.device_collective_peak << "  " << m.device
          << "\n";
  }
  out << "#\n# Model-state rows byte-exact: " << exact_ok << " of " << exact_rows << "\n";
  out << "# Parameter update: " << wrong << " wrong of " << with_commas(checked) << " checked elements (all ranks)\n";
  out << "# Verdict: " << (all_ok ? "PASS" : "FAIL") << "\n";
  return all_ok;
}

}  // namespace trainmem::tools
