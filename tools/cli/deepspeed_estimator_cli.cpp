#include "tools/cli/deepspeed_estimator_cli.hpp"

#include <algorithm>
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "partition/error.hpp"
#include "sim/accounting/deepspeed_estimator.hpp"
#include "tools/inputs/value_parse.hpp"
#include "tools/report/format.hpp"
#include "tools/report/report.hpp"

namespace trainmem::tools {
namespace po = boost::program_options;

bool wants_deepspeed_estimator(const std::vector<std::string>& args) {
  return std::any_of(args.begin(), args.end(), [](const std::string& a) {
    return a == "--deepspeed-estimator" || a.rfind("--deepspeed-estimator=", 0) == 0;
  });
}

int run_deepspeed_estimator(const std::vector<std::string>& args, std::ostream& out) {
  po::options_description desc("DeepSpeed estimator compatibility mode");
  auto text = [] { return po::value<std::string>(); };
  desc.add_options()("help,h", "show this help")("deepspeed-estimator", text()->implicit_value("true"),
                                                 "use DeepSpeed's estimate_zero{2,3}_model_states_mem_needs")(
      "num-parameters", text(), "total parameters (required)")(
      "largest-layer-parameters", text(), "parameters of the largest module (ZeRO-3, required there)")(
      "num-nodes", text(), "nodes (default 1)")("gpus-per-node", text(), "GPUs per node (default 1)")(
      "zero-stage", text(), "2 or 3")("offload-optimizer", text(), "none | cpu (default none)")(
      "offload-param", text(), "none | cpu (default none; ZeRO-3 with --offload-optimizer cpu)")(
      "zero-init", text(), "1 | 0 (default 1; ZeRO-3)")(
      "additional-buffer-factor", text(), "host memory factor (default 1.5)")("format", text(), "table | json");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args)
                  .options(desc)
                  .style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing)
                  .run(),
              vm);
  } catch (const po::error& e) {
    throw ConfigError("option", "(deepspeed-estimator mode)", e.what());
  }
  if (vm.count("help") != 0) {
    out << "usage: trainmem estimate --deepspeed-estimator --num-parameters P [--largest-layer-parameters L]\n"
           "       [--num-nodes N] [--gpus-per-node G] --zero-stage 2|3 [--offload-optimizer cpu]\n"
           "       [--offload-param cpu] [--zero-init 0|1] [--format table|json]\n\n"
        << desc;
    return 0;
  }
  auto get = [&](const char* key) -> const std::string* {
    return vm.count(key) != 0 ? &vm[key].as<std::string>() : nullptr;
  };
  sim::DeepSpeedEstimatorInput in;
  if (!get("num-parameters")) throw ConfigError("num_parameters", "(missing)", "required with --deepspeed-estimator");
  in.total_params = parse_count("num_parameters", *get("num-parameters"), 1, 1000000000000000ULL);
  if (get("largest-layer-parameters"))
    in.largest_layer_params =
        parse_count("largest_layer_parameters", *get("largest-layer-parameters"), 1, 1000000000000000ULL);
  if (get("num-nodes")) in.num_nodes = parse_int("num_nodes", *get("num-nodes"), 1, 1 << 20);
  if (get("gpus-per-node")) in.gpus_per_node = parse_int("gpus_per_node", *get("gpus-per-node"), 1, 1024);
  if (!get("zero-stage")) throw ConfigError("zero_stage", "(missing)", "required with --deepspeed-estimator (2 or 3)");
  in.zero_stage = static_cast<int>(parse_int("zero_stage", *get("zero-stage"), 2, 3));
  if (get("offload-optimizer"))
    in.offload_optimizer = parse_choice("offload_optimizer", *get("offload-optimizer"), {"none", "cpu"}) == "cpu";
  if (get("offload-param"))
    in.offload_param = parse_choice("offload_param", *get("offload-param"), {"none", "cpu"}) == "cpu";
  if (get("zero-init")) in.zero_init = parse_choice("zero_init", *get("zero-init"), {"0", "1"}) == "1";
  if (get("additional-buffer-factor")) {
    const std::string& f = *get("additional-buffer-factor");
    try {
      std::size_t used = 0;
      in.additional_buffer_factor = std::stod(f, &used);
      if (used != f.size() || !(in.additional_buffer_factor > 0) || in.additional_buffer_factor > 100)
        throw std::invalid_argument(f);
    } catch (const std::exception&) {
      throw ConfigError("additional_buffer_factor", f, "must be a number between 0 and 100");
    }
  }
  const bool json_out = get("format") && parse_choice("format", *get("format"), {"table", "json"}) == "json";
  const sim::DeepSpeedEstimate e = sim::deepspeed_estimate(in);

  if (json_out) {
    nlohmann::json j;
    j["schema_version"] = 1;
    j["tool"] = "trainmem";
    j["version"] = kVersion;
    j["command"] = "estimate --deepspeed-estimator";
    j["config"] = {{"num_parameters", in.total_params},
                   {"largest_layer_parameters", in.largest_layer_params},
                   {"num_nodes", in.num_nodes},
                   {"gpus_per_node", in.gpus_per_node},
                   {"zero_stage", in.zero_stage},
                   {"offload_optimizer", in.offload_optimizer ? "cpu" : "none"},
                   {"offload_param", in.offload_param ? "cpu" : "none"},
                   {"zero_init", in.zero_init ? 1 : 0},
                   {"additional_buffer_factor", in.additional_buffer_factor}};
    j["deepspeed_estimator"] = {{"gpu_bytes", e.gpu_bytes}, {"cpu_bytes", e.cpu_bytes}};
    out << j.dump(2) << "\n";
    return 0;
  }
  out << "# trainmem " << kVersion << " estimate --deepspeed-estimator (DeepSpeed's formulas, not trainmem's model)\n"
      << "# " << with_commas(in.total_params) << " parameters, " << in.num_nodes << " node(s) x " << in.gpus_per_node
      << " GPU(s), ZeRO-" << in.zero_stage << ", offload_optimizer " << (in.offload_optimizer ? "cpu" : "none");
  if (in.zero_stage == 3)
    out << ", offload_param " << (in.offload_param ? "cpu" : "none") << ", zero_init " << (in.zero_init ? 1 : 0)
        << ", largest layer " << with_commas(in.largest_layer_params);
  out << "\n#   per GPU: " << iec(Bytes(e.gpu_bytes)) << " (" << with_commas(e.gpu_bytes) << " bytes)\n"
      << "#   per node (host RAM, x" << fixed(in.additional_buffer_factor, 2)
      << " buffer factor): " << iec(Bytes(e.cpu_bytes)) << " (" << with_commas(e.cpu_bytes) << " bytes)\n"
      << "# DeepSpeed's estimator counts model states only: no activations, buckets, gathers or runtime memory.\n";
  return 0;
}

}  // namespace trainmem::tools
