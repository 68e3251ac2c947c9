// The ds_config.json key tables and their lookup (deepspeed_keys.hpp).
#include "tools/inputs/deepspeed_keys.hpp"

#include <algorithm>

#include "partition/model_presets.hpp"

namespace trainmem::tools::ds_keys {
namespace {

constexpr KeyRule kTopLevelRules[] = {
    {"train_batch_size", Rule::handled},
    {"train_micro_batch_size_per_gpu", Rule::handled},
    {"gradient_accumulation_steps", Rule::handled},
    {"zero_optimization", Rule::handled},
    {"fp16", Rule::handled},
    {"bf16", Rule::handled},
    {"bfloat16", Rule::handled},
    {"amp", Rule::handled},
    {"torch_autocast", Rule::handled},
    {"optimizer", Rule::handled},
    {"data_types", Rule::handled},
    // No effect on GPU memory: learning-rate schedule, logging, monitoring, checkpoint I/O, launcher settings.
    {"scheduler", Rule::ignored},
    {"steps_per_print", Rule::ignored},
    {"wall_clock_breakdown", Rule::ignored},
    {"memory_breakdown", Rule::ignored},
    {"dump_state", Rule::ignored},
    {"gradient_clipping", Rule::ignored},
    {"prescale_gradients", Rule::ignored},
    {"gradient_predivide_factor", Rule::ignored},
    {"zero_allow_untested_optimizer", Rule::ignored},
    {"zero_force_ds_cpu_optimizer", Rule::ignored},
    {"tensorboard", Rule::ignored},
    {"wandb", Rule::ignored},
    {"csv_monitor", Rule::ignored},
    {"comet", Rule::ignored},
    {"flops_profiler", Rule::ignored},
    {"comms_logger", Rule::ignored},
    {"checkpoint", Rule::ignored},
    {"nebula", Rule::ignored},
    {"timers", Rule::ignored},
    {"dataloader_drop_last", Rule::ignored},
    {"elasticity", Rule::ignored},
    {"autotuning", Rule::ignored},
    {"aio", Rule::ignored},
    {"graph_harvesting", Rule::ignored},
    {"disable_allgather", Rule::ignored},
    {"eigenvalue", Rule::ignored},
    {"vocabulary_size", Rule::ignored},
    {"progressive_layer_drop", Rule::ignored},
    {"compile", Rule::ignored},
    {"seq_parallel_communication_data_type", Rule::ignored},
    {"use_data_before_expert_parallelism", Rule::ignored},
    {"sparse_gradients", Rule::ignored},
    // A GPU-memory effect trainmem does not model.
    {"activation_checkpointing", Rule::not_modelled},
    {"communication_data_type", Rule::not_modelled},
    {"sparse_attention", Rule::not_modelled},
    {"pipeline", Rule::not_modelled},
    {"compression_training", Rule::not_modelled},
    {"quantize_training", Rule::not_modelled},
    {"data_efficiency", Rule::not_modelled},
    {"curriculum_learning", Rule::not_modelled},
    {"hybrid_engine", Rule::not_modelled},
    {"weight_quantization", Rule::not_modelled},
    {"tensor_parallel", Rule::not_modelled},
};

// deepspeed/runtime/zero/config.py DeepSpeedZeroConfig (field names and their aliases).
constexpr KeyRule kZeroRules[] = {
    {"stage", Rule::handled},
    {"reduce_bucket_size", Rule::handled},
    {"overlap_comm", Rule::handled},
    {"contiguous_gradients", Rule::handled},
    {"stage3_prefetch_bucket_size", Rule::handled},
    {"prefetch_bucket_size", Rule::handled},
    {"stage3_max_live_parameters", Rule::handled},
    {"max_live_parameters", Rule::handled},
    {"stage3_param_persistence_threshold", Rule::handled},
    {"param_persistence_threshold", Rule::handled},
    {"sub_group_size", Rule::handled},
    {"offload_optimizer", Rule::handled},
    {"offload_param", Rule::handled},
    {"cpu_offload", Rule::handled},
    {"cpu_offload_param", Rule::handled},
    {"legacy_stage1", Rule::handled},
    {"mics_shard_size", Rule::handled},
    {"zero_hpz_partition_size", Rule::handled},
    {"zero_quantized_nontrainable_weights", Rule::handled},
    // Communication pattern, checkpointing and debugging switches: no effect on GPU memory.
    {"allgather_partitions", Rule::ignored},
    {"reduce_scatter", Rule::ignored},
    {"use_multi_rank_bucket_allreduce", Rule::ignored},
    {"load_from_fp32_weights", Rule::ignored},
    {"elastic_checkpoint", Rule::ignored},
    {"stage3_gather_16bit_weights_on_model_save", Rule::ignored},
    {"gather_16bit_weights_on_model_save", Rule::ignored},
    {"stage3_gather_fp16_weights_on_model_save", Rule::ignored},
    {"ignore_unused_parameters", Rule::ignored},
    {"round_robin_gradients", Rule::ignored},
    {"log_trace_cache_warnings", Rule::ignored},
    {"enable_sanity_checks", Rule::ignored},
    {"stage3_use_all_reduce_for_fetch_params", Rule::ignored},
    {"use_all_reduce_for_fetch_params", Rule::ignored},
    {"stage3_module_granularity_threshold", Rule::ignored},
    {"module_granularity_threshold", Rule::ignored},
    {"override_module_apply", Rule::ignored},
    {"pipeline_loading_checkpoint", Rule::ignored},
    {"zero_quantized_weights", Rule::ignored},
    {"zero_quantized_gradients", Rule::ignored},
    {"cpu_offload_use_pin_memory", Rule::ignored},
    {"stage3_partition_stream_chunk_size", Rule::ignored},
    {"partition_stream_chunk_size", Rule::ignored},
    {"save_muon_momentum_buffer_in_memory", Rule::ignored},
    {"mics_hierarchical_params_gather", Rule::ignored},
    // Buffers and caches whose size trainmem does not model.
    {"allgather_bucket_size", Rule::not_modelled},
    {"stage3_max_reuse_distance", Rule::not_modelled},
    {"max_reuse_distance", Rule::not_modelled},
    {"stage3_model_persistence_threshold", Rule::not_modelled},
    {"model_persistence_threshold", Rule::not_modelled},
    {"memory_efficient_linear", Rule::not_modelled},
    {"stage3_allgather_sequential", Rule::not_modelled},
    {"allgather_sequential", Rule::not_modelled},
    {"zeropp_loco_param", Rule::not_modelled},
    {"leaf_module", Rule::not_modelled},
    {"zenflow", Rule::not_modelled},
};

// deepspeed/runtime/zero/offload_config.py: everything but device (and ratio / super_offload) concerns the
// host or NVMe side.
constexpr KeyRule kOffloadOptimizerRules[] = {
    {"device", Rule::handled},
    {"ratio", Rule::handled},
    {"super_offload", Rule::handled},
    {"nvme_path", Rule::ignored},
    {"pin_memory", Rule::handled},
    {"buffer_count", Rule::handled},
    {"pipeline_read", Rule::ignored},
    {"pipeline_write", Rule::ignored},
    {"pipeline", Rule::ignored},
    {"fast_init", Rule::ignored},
    {"convert_grad_on_cpu", Rule::ignored},
    {"cpuadam_cores_perc", Rule::ignored},
};
constexpr KeyRule kOffloadParamRules[] = {
    {"device", Rule::handled},       {"nvme_path", Rule::ignored},   {"pin_memory", Rule::handled},
    {"buffer_count", Rule::handled}, {"buffer_size", Rule::handled}, {"max_in_cpu", Rule::ignored},
};
// deepspeed/runtime/constants.py FP16_* and BFLOAT16_*; precision_config.py.
constexpr KeyRule kFp16Rules[] = {
    {"enabled", Rule::handled},
    {"fp16_master_weights_and_grads", Rule::handled},
    {"auto_cast", Rule::ignored},
    {"loss_scale", Rule::ignored},
    {"initial_scale_power", Rule::ignored},
    {"loss_scale_window", Rule::ignored},
    {"hysteresis", Rule::ignored},
    {"consecutive_hysteresis", Rule::ignored},
    {"min_loss_scale", Rule::ignored},
    {"fused_mode", Rule::ignored},
};
constexpr KeyRule kBf16Rules[] = {
    {"enabled", Rule::handled},
    {"bf16_master_weights_and_grads", Rule::handled},
    {"bf16_optimizer_states", Rule::handled},
    {"immediate_grad_update", Rule::ignored},
    {"check_grad_overflow", Rule::ignored},
};
constexpr KeyRule kDataTypesRules[] = {{"grad_accum_dtype", Rule::handled}};
constexpr KeyRule kOptimizerRules[] = {
    {"type", Rule::handled}, {"params", Rule::handled}, {"legacy_fusion", Rule::ignored}};

}  // namespace

const KeyRules kTopLevel = kTopLevelRules;
const KeyRules kZero = kZeroRules;
const KeyRules kOffloadOptimizer = kOffloadOptimizerRules;
const KeyRules kOffloadParam = kOffloadParamRules;
const KeyRules kFp16 = kFp16Rules;
const KeyRules kBf16 = kBf16Rules;
const KeyRules kDataTypes = kDataTypesRules;
const KeyRules kOptimizer = kOptimizerRules;

const KeyRule* find_rule(KeyRules rules, std::string_view key) {
  for (const auto& r : rules)
    if (r.name == key) return &r;
  return nullptr;
}

std::string suggestion(KeyRules rules, std::string_view key) {
  std::string best;
  std::size_t best_d = 0;
  for (const auto& r : rules) {
    const std::size_t d = edit_distance(key, r.name);
    if (best.empty() || d < best_d) best = std::string(r.name), best_d = d;
  }
  if (best.empty() || best_d > std::max<std::size_t>(3, key.size() / 2)) return "";
  return best;
}

}  // namespace trainmem::tools::ds_keys
