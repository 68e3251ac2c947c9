#include "sim/accounting/scenario.hpp"

#include <algorithm>
#include <numeric>
#include <string>

#include "partition/error.hpp"
#include "partition/layer_assignment.hpp"
#include "sim/offload/offload_memory.hpp"

namespace trainmem::sim {
namespace {
constexpr std::int64_t kMaxSeq = 1LL << 25;  // 33.5M tokens
constexpr std::int64_t kMaxBatch = 1LL << 30;
constexpr std::uint64_t kMaxParameters = 1000000000000000ULL;  // 1e15: a thousand trillion

std::string s(std::int64_t v) { return std::to_string(v); }
}  // namespace

ResolvedScenario resolve_scenario(Scenario sc) {
  ResolvedScenario r;
  auto& t = sc.training;
  if (sc.model.has_value() == sc.num_parameters.has_value())
    throw ConfigError("model", sc.model ? sc.model->name : "(none)",
                      sc.model ? "give either a model or num_parameters, not both"
                               : "no model: give model, model_config, the shape flags or num_parameters");
  if (sc.num_parameters && (sc.num_parameters->value == 0 || sc.num_parameters->value > kMaxParameters))
    throw ConfigError("num_parameters", std::to_string(sc.num_parameters->value), "must be between 1 and 1e15");

  r.recipe = find_recipe(t.recipe);
  if (r.recipe == nullptr)
    throw ConfigError("recipe", t.recipe,
                      "unknown; one of mixed-16 (zero-paper), mixed-18 (megatron), "
                      "mixed-20 (deepspeed), fp32, bf16");
  if (r.recipe->compute_dtype) {
    // FSDP's mixed-precision policy exists only inside FSDP: the hf profile's fully_shard over dp ranks.
    const bool fsdp = t.framework == Framework::hf && sc.parallel.zero_stage >= 2 && !sc.inference.enabled;
    if (!fsdp)
      throw ConfigError("recipe", t.recipe,
                        "is PyTorch FSDP's mixed-precision policy: it needs framework hf with zero_stage 2 or 3 "
                        "(FSDP) for training; without FSDP use amp (autocast) or bf16");
  }
  r.optimizer = find_optimizer(t.optimizer);
  if (r.optimizer == nullptr)
    throw ConfigError("optimizer", t.optimizer,
                      "unknown; one of adam, adamw, sgd-momentum, sgd, adam-8bit (adamw-bnb-8bit), "
                      "adamw-torchao-8bit, adamw-torchao-4bit, adamw-torchao-fp8, onebit-adam, zero-one-adam, "
                      "onebit-lamb");
  if (t.use_distributed_optimizer) {
    if (sc.parallel.zero_stage > 1)
      throw ConfigError("use_distributed_optimizer", "true",
                        "is ZeRO stage 1 and conflicts with zero_stage " + std::to_string(sc.parallel.zero_stage));
    sc.parallel.zero_stage = 1;
  }
  // DeepSpeed engine.py _configure_basic_optimizer asserts "1bit-Adam is not compatible with ZeRO" (the same for
  // 0/1 Adam and 1-bit LAMB); they are DeepSpeed optimizers, not PyTorch ones.
  if (r.optimizer->error_feedback && sc.parallel.zero_stage != 0)
    throw ConfigError("optimizer", t.optimizer,
                      "is not compatible with ZeRO (DeepSpeed engine.py asserts it); zero_stage is " +
                          std::to_string(sc.parallel.zero_stage) + ", needs 0 (and no use_distributed_optimizer)");
  if (r.optimizer->error_feedback && t.framework == Framework::hf)
    throw ConfigError("optimizer", t.optimizer, "is a DeepSpeed optimizer; framework hf models PyTorch DDP/FSDP");
  check_low_precision(t.low_precision, *r.recipe, *r.optimizer, sc.parallel.zero_stage);
  if ((r.derived_recipe = precision_aware_recipe(t.low_precision, *r.recipe))) r.recipe = r.derived_recipe.get();
  if (t.low_precision.quantized() && (sc.inference.enabled || sc.lora.enabled() || !sc.model))
    throw ConfigError(t.low_precision.fp8_format.empty() ? "fp4_format" : "fp8_format",
                      t.low_precision.fp8_format.empty() ? t.low_precision.fp4_format : t.low_precision.fp8_format,
                      "models FP8 training of a layered model (not inference, LoRA or a bare parameter count)");
  if ((t.low_precision.quantized() || t.low_precision.precision_aware_optimizer) &&
      (t.framework == Framework::hf || sc.offload.optimizer != OffloadDevice::none ||
       sc.offload.param != OffloadDevice::none))
    throw ConfigError(t.low_precision.quantized() ? (t.low_precision.fp8_format.empty() ? "fp4_format" : "fp8_format")
                                                  : "use_precision_aware_optimizer",
                      t.low_precision.quantized() ? (t.low_precision.fp8_format.empty() ? t.low_precision.fp4_format
                                                                                        : t.low_precision.fp8_format)
                                                  : "true",
                      "is modelled for Megatron-LM + Transformer Engine (framework megatron, no ZeRO offload)");

  if (t.seq_length == 0) t.seq_length = sc.default_seq_length;
  if (t.seq_length < 1 || t.seq_length > kMaxSeq)
    throw ConfigError("seq_length", s(t.seq_length), "must be between 1 and " + s(kMaxSeq));
  if (sc.model) {
    validate(*sc.model);
    auto& m = *sc.model;
    if (m.position_embedding == PositionEmbedding::learned) {
      // Inference: the table must also cover the generated tokens.
      if (m.max_position_embeddings == 0)
        m.max_position_embeddings =
            t.seq_length + (sc.inference.enabled ? std::max<std::int64_t>(0, sc.inference.max_new_tokens) : 0);
      if (t.seq_length > m.max_position_embeddings)
        throw ConfigError(
            "seq_length", s(t.seq_length),
            "exceeds the learned position table (max_position_embeddings " + s(m.max_position_embeddings) + ")");
    }
  }
  if (sc.inference.enabled && sc.model) {
    // Serving replicates KV heads when tp exceeds them (vLLM): check the layout against the replicated model.
    const ModelSpec served = serving_model(*sc.model, sc.parallel.tp);
    sc.parallel = resolve(sc.parallel, &served);
  } else {
    sc.parallel = resolve(sc.parallel, sc.model ? &*sc.model : nullptr);
  }
  const auto& p = sc.parallel;
  if (r.recipe->compute_dtype && p.dp < 2)
    throw ConfigError("recipe", t.recipe,
                      "is PyTorch FSDP's mixed-precision policy and models FSDP over dp > 1 ranks (dp is " + s(p.dp) +
                          "); on one GPU use amp (autocast) or bf16");

  if (t.micro_batch_size < 1 || t.micro_batch_size > kMaxBatch)
    throw ConfigError("micro_batch_size", s(t.micro_batch_size), "must be between 1 and " + s(kMaxBatch));
  // The ranks of one Ulysses group (carved out of dp) share their sequences, each holding seq / ulysses_sp of
  // them: DeepSpeed's data loader splits the batch over world / sp ranks, so the batch replicas are dp / ulysses_sp.
  const std::int64_t batch_dp = p.dp / p.ulysses_sp;
  const std::string batch_dp_text =
      p.ulysses_sp > 1 ? "dp / ulysses_sp = " + s(t.micro_batch_size) + " * " + s(p.dp) + " / " + s(p.ulysses_sp)
                       : "dp = " + s(t.micro_batch_size) + " * " + s(p.dp);
  if (t.global_batch_size == 0) t.global_batch_size = t.micro_batch_size * batch_dp;
  if (t.global_batch_size < 1 || t.global_batch_size > kMaxBatch)
    throw ConfigError("global_batch_size", s(t.global_batch_size), "must be between 1 and " + s(kMaxBatch));
  if (t.global_batch_size % (t.micro_batch_size * batch_dp) != 0)
    throw ConfigError("global_batch_size", s(t.global_batch_size),
                      "is not divisible by micro_batch_size * " + batch_dp_text);
  r.num_microbatches = t.global_batch_size / (t.micro_batch_size * batch_dp);
  // Fewer microbatches than stages is legal (Megatron runs it), but the default global batch with --pp 4 does it
  // by accident: most of the step is pipeline bubble, and the stages hold fewer microbatches in flight than a
  // real run with a full pipeline, so the activation peaks here are below that run's.
  if (p.pp > 1 && r.num_microbatches < p.pp && !sc.inference.enabled) {
    const std::int64_t idle = p.pp - 1, step = r.num_microbatches + p.pp - 1, g = std::gcd(idle, step);
    r.warnings.push_back("num_microbatches " + s(r.num_microbatches) + " = global_batch_size " +
                         s(t.global_batch_size) + " / (micro_batch_size " + s(t.micro_batch_size) + " * dp " + s(p.dp) +
                         (p.ulysses_sp > 1 ? " / ulysses_sp " + s(p.ulysses_sp) : std::string()) +
                         ") is below pipeline_model_parallel_size " + s(p.pp) + ": the pipeline never fills (bubble " +
                         s(idle / g) + "/" + s(step / g) +
                         " of the step) and the activation peaks are those of a part-empty pipeline; "
                         "give --global-batch-size " +
                         s(p.pp * t.micro_batch_size * batch_dp) + " or more to size a full one");
  }
  if (p.vpp > 1 && r.num_microbatches % p.pp != 0)
    throw ConfigError("global_batch_size", s(t.global_batch_size),
                      "gives " + s(r.num_microbatches) + " microbatches, not a multiple of pp = " + s(p.pp) +
                          " as the interleaved schedule requires");

  if (p.sequence_parallel && p.tp > 1 && t.seq_length % p.tp != 0)
    throw ConfigError("seq_length", s(t.seq_length), "sequence_parallel needs it divisible by tp = " + s(p.tp));
  if (p.cp > 1 && t.seq_length % (2 * p.cp) != 0)
    throw ConfigError("seq_length", s(t.seq_length),
                      "context parallelism needs it divisible by 2 * cp = " + s(2 * p.cp) + " (load-balanced chunks)");
  if (p.ulysses_sp > 1 && t.seq_length % p.ulysses_sp != 0)
    throw ConfigError("seq_length", s(t.seq_length), "is not divisible by ulysses_sp = " + s(p.ulysses_sp));
  if (t.recompute_num_layers < 0)
    throw ConfigError("recompute_num_layers", s(t.recompute_num_layers), "must not be negative");
  if (t.recompute_granularity == RecomputeGranularity::full && sc.model) {
    // Megatron applies recompute_num_layers within each model chunk (TransformerBlock of a stage, or
    // of a virtual stage with vpp): it may not exceed the smallest chunk.
    std::int64_t smallest = sc.model->num_layers;
    for (const auto& st : assign_layers(sc.model->num_layers, p))
      for (const auto& c : st.chunks) smallest = std::min(smallest, c.num_layers);
    if (t.recompute_num_layers > smallest)
      throw ConfigError("recompute_num_layers", s(t.recompute_num_layers),
                        std::string("exceeds the layers per ") +
                            (p.vpp > 1 ? "virtual pipeline chunk" : "pipeline stage") + " (" + s(smallest) + ")");
  }

  // Dropout: by model style unless given (see TrainingConfig).
  auto check_probability = [](const char* field, const std::optional<double>& v) {
    if (v && !(*v >= 0.0 && *v < 1.0)) throw ConfigError(field, std::to_string(*v), "must be a probability in [0, 1)");
  };
  check_probability("attention_dropout", t.attention_dropout);
  check_probability("hidden_dropout", t.hidden_dropout);
  const bool gpt_style = sc.model && sc.model->normalization == Normalization::layer_norm &&
                         sc.model->position_embedding == PositionEmbedding::learned;
  if (!t.attention_dropout) t.attention_dropout = gpt_style ? 0.1 : 0.0;
  if (!t.hidden_dropout) t.hidden_dropout = gpt_style ? 0.1 : 0.0;

  if (t.pipeline_schedule == PipelineScheduleOption::gpipe && p.vpp > 1)
    throw ConfigError(
        "pipeline_schedule", "gpipe",
        "has no virtual stages; virtual_pipeline_model_parallel_size > 1 needs the interleaved 1f1b schedule");
  if (t.moe_capacity_factor && !(*t.moe_capacity_factor > 0.0 && *t.moe_capacity_factor <= 1000.0))
    throw ConfigError("moe_expert_capacity_factor", std::to_string(*t.moe_capacity_factor), "must be in (0, 1000]");
  if (t.attention == AttentionKernel::eager && p.cp > 1)
    throw ConfigError(
        "attention", "eager",
        "context parallelism runs ring attention on a fused (flash) kernel; use attention flash with cp > 1");
  if (sc.model && p.ulysses_sp > 1) {
    // Ulysses' all-to-all hands each rank heads / (tp * ulysses_sp) query heads and as many kv groups.
    const std::int64_t split = p.tp * p.ulysses_sp;
    if (sc.model->num_attention_heads % split != 0 || sc.model->query_groups() % split != 0)
      throw ConfigError("ulysses_sp", s(p.ulysses_sp),
                        "tp * ulysses_sp = " + s(split) + " must divide num_attention_heads (" +
                            s(sc.model->num_attention_heads) + ") and num_query_groups (" +
                            s(sc.model->query_groups()) + ")");
  }
  check_offload(sc.offload, p.zero_stage, t.recompute_granularity == RecomputeGranularity::full);
  if (sc.gpus_per_node < 1 || sc.gpus_per_node > 1024)
    throw ConfigError("gpus_per_node", s(sc.gpus_per_node), "must be between 1 and 1024");
  if (sc.runtime.nccl_channels < 1 || sc.runtime.nccl_channels > 64)
    throw ConfigError("nccl_channels", s(sc.runtime.nccl_channels), "must be between 1 and 64 (NCCL's MAXCHANNELS)");
  if (sc.runtime.nccl_p2p_channels < 1 || sc.runtime.nccl_p2p_channels > 64)
    throw ConfigError("nccl_p2p_channels", s(sc.runtime.nccl_p2p_channels), "must be between 1 and 64");
  if (sc.runtime.fragmentation_ppm > 1000000)
    throw ConfigError("allocator_fragmentation", std::to_string(sc.runtime.fragmentation_ppm / 1e6),
                      "must be in [0, 1]");
  if (sc.inference.enabled) {
    // Serving: no gradients, optimizer or backward; the layouts that only exist for training are errors.
    const auto& inf = sc.inference;
    if (!sc.model) throw ConfigError("inference", "true", "needs a layered model (preset, config.json or shape flags)");
    if (sc.lora.enabled())
      throw ConfigError("lora_rank", s(sc.lora.rank), "is fine-tuning; it cannot be combined with inference");
    if (p.zero_stage != 0)
      throw ConfigError("zero_stage", s(p.zero_stage), "is a training setting; inference shards with tp and pp");
    if (p.cp > 1 || p.vpp > 1 || p.ulysses_sp > 1 || p.sequence_parallel)
      throw ConfigError(p.cp > 1           ? "context_parallel_size"
                        : p.vpp > 1        ? "virtual_pipeline_model_parallel_size"
                        : p.ulysses_sp > 1 ? "ulysses_sp"
                                           : "sequence_parallel",
                        "(set)", "is not modelled for inference; use tp, pp and dp (replicas)");
    check_weight_format(inf.weights);
    if (inf.max_num_batched_tokens < 0 || inf.max_num_batched_tokens > (1LL << 40))
      throw ConfigError("max_num_batched_tokens", s(inf.max_num_batched_tokens),
                        "must be between 0 (no limit) and 2^40");
    if (inf.kv_block_size < 0 || inf.kv_block_size > (1 << 20))
      throw ConfigError("kv_block_size", s(inf.kv_block_size), "must be between 0 (contiguous) and 1048576");
    if (inf.max_new_tokens < 0 || inf.max_new_tokens > kMaxSeq)
      throw ConfigError("max_new_tokens", s(inf.max_new_tokens), "must be between 0 and " + s(kMaxSeq));
    if (inf.kv_cache_dtype && *inf.kv_cache_dtype != Dtype::bf16 && *inf.kv_cache_dtype != Dtype::fp16 &&
        *inf.kv_cache_dtype != Dtype::fp8 && *inf.kv_cache_dtype != Dtype::int8 && *inf.kv_cache_dtype != Dtype::fp32)
      throw ConfigError("kv_cache_dtype", std::string(dtype_name(*inf.kv_cache_dtype)),
                        "must be fp32, bf16, fp16, fp8 or int8");
    if (!(inf.gpu_memory_utilization > 0.0 && inf.gpu_memory_utilization <= 1.0))
      throw ConfigError("gpu_memory_utilization", std::to_string(inf.gpu_memory_utilization),
                        "must be a fraction in (0, 1] (vLLM's default 0.9)");
    if (inf.max_model_len < 0 || inf.max_model_len > kMaxSeq)
      throw ConfigError("max_model_len", s(inf.max_model_len),
                        "must be between 0 (= seq_length + max_new_tokens) and " + s(kMaxSeq));
    if (inf.max_model_len > 0 && sc.model->max_position_embeddings > 0 &&
        inf.max_model_len > sc.model->max_position_embeddings)  // vLLM ModelConfig: "User-specified max_model_len"
      throw ConfigError("max_model_len", s(inf.max_model_len),
                        "exceeds the model's max_position_embeddings " + s(sc.model->max_position_embeddings) +
                            " (vLLM refuses it unless VLLM_ALLOW_LONG_MAX_MODEL_LEN=1)");
    if (inf.max_num_seqs < 0 || inf.max_num_seqs > kMaxBatch)
      throw ConfigError("max_num_seqs", s(inf.max_num_seqs), "must be between 0 (vLLM's default) and " + s(kMaxBatch));
    if (inf.max_num_seqs > vllm_profile_tokens(inf.max_num_batched_tokens))  // vLLM SchedulerConfig's own check
      throw ConfigError("max_num_seqs", s(inf.max_num_seqs),
                        "exceeds max_num_batched_tokens " + s(vllm_profile_tokens(inf.max_num_batched_tokens)) +
                            " (vLLM needs max_num_batched_tokens >= max_num_seqs; its default is 2048)");
    const auto& m = *sc.model;
    if (m.position_embedding == PositionEmbedding::learned &&
        t.seq_length + inf.max_new_tokens > m.max_position_embeddings)
      throw ConfigError(
          "max_new_tokens", s(inf.max_new_tokens),
          "seq_length + max_new_tokens exceeds the learned position table (" + s(m.max_position_embeddings) + ")");
  }
  if (sc.lora.enabled()) {
    if (!sc.model)
      throw ConfigError("lora_rank", s(sc.lora.rank), "needs a layered model (preset, config.json or shape flags)");
    check_weight_format(sc.lora.base);
    (void)lora_layer(*sc.model, sc.lora, p.tp);  // target and rank checks
  }
  r.scenario = std::move(sc);
  return r;
}

}  // namespace trainmem::sim
