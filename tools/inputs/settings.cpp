#include "tools/inputs/settings.hpp"

#include <algorithm>

#include "partition/error.hpp"
#include "partition/model_presets.hpp"

namespace trainmem::tools {

namespace {
using K = OptionKind;
constexpr OptionSpec kOptions[] = {
    // model
    {"model", "", K::text, "model preset (see `trainmem models`)", "model"},
    {"model_config", "", K::text, "Hugging Face config.json (llama, mistral, mixtral, qwen2, gpt2, opt)", "model"},
    {"deepspeed_config", "", K::text, "DeepSpeed ds_config.json: fills the keys not given (docs/ecosystem-inputs.md)",
     "model"},
    {"megatron_args", "", K::text, "Megatron-LM arguments in one string: fills the keys not given", "model"},
    {"hf_training_args", "", K::text,
     "Hugging Face TrainingArguments as JSON/YAML: fills the keys not given (docs/ecosystem-inputs.md)", "model"},
    {"accelerate_config", "", K::text, "accelerate config YAML: fills the keys not given (docs/ecosystem-inputs.md)",
     "model"},
    {"num_parameters", "", K::count, "bare parameter count for model-state-only questions (7.5e9, 175B)", "model"},
    {"num_layers", "", K::integer, "transformer layers", "model"},
    {"hidden_size", "", K::integer, "hidden size h", "model"},
    {"ffn_hidden_size", "", K::integer, "MLP hidden size (default 4h)", "model"},
    {"num_attention_heads", "", K::integer, "attention heads", "model"},
    {"num_query_groups", "", K::integer, "key/value heads for GQA/MQA (default: heads)", "model"},
    {"kv_channels", "", K::integer, "head dimension (default h / heads)", "model"},
    {"vocab_size", "", K::integer, "vocabulary size before padding (default 50257)", "model"},
    {"max_position_embeddings", "", K::integer, "rows of a learned position table (default seq_length)", "model"},
    {"position_embedding_type", "", K::text, "learned_absolute | rope | none", "model"},
    {"normalization", "", K::text, "LayerNorm | RMSNorm", "model"},
    {"swiglu", "", K::boolean, "SwiGLU MLP (three matrices) instead of GeLU", "model"},
    {"untie_embeddings_and_output_weights", "", K::boolean, "separate LM head instead of the tied embedding", "model"},
    {"disable_bias_linear", "", K::boolean, "no biases on the linear layers", "model"},
    {"add_qkv_bias", "", K::boolean, "QKV bias even with disable_bias_linear (Qwen2)", "model"},
    {"num_experts", "", K::integer, "MoE experts per layer (0 = dense)", "model"},
    {"moe_router_topk", "", K::integer, "experts per token", "model"},
    {"moe_ffn_hidden_size", "", K::integer, "expert MLP hidden size (default ffn_hidden_size)", "model"},
    {"shared_expert_ffn", "", K::integer, "MoE shared-expert MLP width, all shared experts together (0 = none)",
     "model"},
    {"first_dense_layers", "", K::integer,
     "MoE model: leading layers with a dense MLP (DeepSeek first_k_dense_replace)", "model"},
    {"moe_router_bias", "", K::boolean, "per-expert router score bias (DeepSeek-V3 e_score_correction_bias)", "model"},
    {"mtp_layers", "", K::integer, "multi-token prediction modules on the last stage (DeepSeek-V3: 1)", "model"},
    {"qk_norm", "", K::boolean, "RMSNorm over head_dim on each query and key head (Megatron --qk-layernorm)", "model"},
    {"q_lora_rank", "", K::integer, "MLA query latent width (0 = one q_proj)", "model"},
    {"kv_lora_rank", "", K::integer, "MLA key/value latent width (0 = no MLA; kv_channels = qk_nope_head_dim)",
     "model"},
    {"qk_rope_head_dim", "", K::integer, "MLA rotary part of each query/key head", "model"},
    {"v_head_dim", "", K::integer, "MLA value head width", "model"},
    {"make_vocab_size_divisible_by", "", K::integer, "pad vocab to a multiple of this * tp (default 128)", "model"},
    {"padded_vocab_size", "", K::integer,
     "the embedding's rows as trained (>= vocab_size, a multiple of tp); replaces the make_vocab_size_divisible_by "
     "padding",
     "model"},
    // parallel
    {"tensor_model_parallel_size", "tp", K::integer, "tensor parallel size", "parallel"},
    {"pipeline_model_parallel_size", "pp", K::integer, "pipeline parallel size", "parallel"},
    {"data_parallel_size", "dp", K::integer, "data parallel size (default world_size / (tp*cp*pp))", "parallel"},
    {"world_size", "", K::integer, "total ranks (alternative to dp)", "parallel"},
    {"context_parallel_size", "cp", K::integer, "context parallel size", "parallel"},
    {"expert_model_parallel_size", "ep", K::integer, "expert parallel size", "parallel"},
    {"expert_tensor_parallel_size", "etp", K::integer, "expert tensor parallel size (default tp)", "parallel"},
    {"virtual_pipeline_model_parallel_size", "vpp", K::integer, "virtual pipeline stages per rank", "parallel"},
    {"sequence_parallel", "", K::boolean, "Megatron sequence parallelism (with tp > 1)", "parallel"},
    {"ulysses_sp", "", K::integer, "DeepSpeed Ulysses sequence parallel degree (carved out of dp)", "parallel"},
    {"zero_stage", "", K::integer, "ZeRO stage 0-3", "parallel"},
    {"shard_group_size", "", K::integer,
     "HSDP: ZeRO / FSDP shards states over groups of this many dp ranks, replicated across dp / it groups "
     "(default dp)",
     "parallel"},
    {"use_distributed_optimizer", "", K::boolean, "Megatron distributed optimizer (= ZeRO stage 1)", "parallel"},
    {"decoder_first_pipeline_num_layers", "", K::integer, "layers on the first stage (uneven split)", "parallel"},
    {"decoder_last_pipeline_num_layers", "", K::integer, "layers on the last stage (uneven split)", "parallel"},
    // training
    {"seq_length", "", K::integer, "sequence length (default: the preset's)", "training"},
    {"micro_batch_size", "per_device_train_batch_size", K::integer, "sequences per microbatch", "training"},
    {"global_batch_size", "", K::integer, "sequences per step (default micro_batch_size * dp)", "training"},
    {"gradient_accumulation_steps", "", K::integer,
     "microbatches per step: global_batch_size = micro_batch_size * this * dp (Hugging Face's name)", "training"},
    {"gradient_checkpointing", "", K::boolean, "Hugging Face's name for recompute_granularity full", "training"},
    {"bf16", "", K::boolean, "Hugging Face Trainer bf16: recipe amp (autocast over fp32 parameters)", "training"},
    {"fp16", "", K::boolean, "Hugging Face Trainer fp16: recipe amp (autocast, same bytes as bf16)", "training"},
    {"recipe", "", K::text, "mixed-16 (zero-paper) | mixed-18 (megatron) | mixed-20 (deepspeed) | fp32 | bf16",
     "training"},
    {"optimizer", "", K::text,
     "adam | adamw | sgd-momentum | sgd | adam-8bit | adamw-torchao-8bit | adamw-torchao-4bit | "
     "adamw-torchao-fp8 | onebit-adam | zero-one-adam | onebit-lamb",
     "training"},
    {"framework", "", K::text, "megatron (default: fused kernels, fp32 main_grad) | hf (transformers + PyTorch)",
     "training"},
    {"optimizer_impl", "", K::text, "for-loop | foreach | fused (default: hf foreach, megatron fused)", "training"},
    {"recompute_granularity", "", K::text, "none | selective | full", "training"},
    {"recompute_method", "", K::text, "uniform | block", "training"},
    {"recompute_num_layers", "", K::integer, "layers recomputed per stage (full recompute)", "training"},
    {"attention", "", K::text, "flash | eager", "training"},
    {"attention_dropout", "", K::text, "attention dropout probability (default 0.1 GPT-style, 0 Llama-style)",
     "training"},
    {"hidden_dropout", "", K::text, "hidden (residual/embedding) dropout probability (same default)", "training"},
    {"pipeline_schedule", "", K::text, "1f1b (interleaved with vpp > 1) | gpipe", "training"},
    {"moe_expert_capacity_factor", "", K::text, "MoE expert capacity factor (default: dropless, balanced routing)",
     "training"},
    {"fused_linear_cross_entropy", "", K::boolean, "chunked LM head + cross entropy (Liger): logits never kept whole",
     "training"},
    // low precision (Megatron-LM + Transformer Engine flag names; docs/low-precision.md)
    {"use_precision_aware_optimizer", "", K::boolean,
     "TE FusedAdam keeps master params and Adam moments in the dtypes below (needs the distributed optimizer)",
     "precision"},
    {"main_params_dtype", "", K::text, "fp32 | fp16: master params with use_precision_aware_optimizer", "precision"},
    {"main_grads_dtype", "", K::text, "fp32 | bf16: the main_grad buffer with use_precision_aware_optimizer",
     "precision"},
    {"exp_avg_dtype", "", K::text, "fp32 | fp16 | bf16 | fp8: Adam m with use_precision_aware_optimizer", "precision"},
    {"exp_avg_sq_dtype", "", K::text, "fp32 | fp16 | bf16 | fp8: Adam v with use_precision_aware_optimizer",
     "precision"},
    {"fp8_format", "", K::text, "e4m3 | hybrid: FP8 linear layers through Transformer Engine", "precision"},
    {"fp8_recipe", "", K::text, "delayed (default) | tensorwise | blockwise | mxfp8", "precision"},
    {"fp4_format", "", K::text, "e2m1: NVFP4 linear layers (TE NVFP4BlockScaling)", "precision"},
    {"fp4_recipe", "", K::text, "nvfp4", "precision"},
    {"fp8_param_gather", "", K::boolean, "keep the linear weights themselves quantized (no bf16 copy)", "precision"},
    {"fp4_param_gather", "", K::boolean, "fp8_param_gather for fp4_format", "precision"},
    {"first_last_layers_bf16", "", K::boolean, "keep the first and last layers in BF16", "precision"},
    {"num_layers_at_start_in_bf16", "", K::integer, "layers kept BF16 at the start (default 1)", "precision"},
    {"num_layers_at_end_in_bf16", "", K::integer, "layers kept BF16 at the end (default 1)", "precision"},
    {"fp8_amax_history_len", "", K::integer, "delayed scaling amax history length (Megatron default 1)", "precision"},
    // device
    // DeepSpeed ZeRO runtime knobs (ds_config zero_optimization names; they size simulate's buffers)
    {"reduce_bucket_size", "", K::count, "gradient bucket elements (DeepSpeed default 5e8)", "deepspeed"},
    {"overlap_comm", "", K::boolean, "ZeRO-2: double-buffer the gradient bucket", "deepspeed"},
    {"contiguous_gradients", "", K::boolean, "copy gradients into the bucket buffer (default true)", "deepspeed"},
    {"stage3_prefetch_bucket_size", "", K::count, "ZeRO-3 elements gathered ahead (default 5e7)", "deepspeed"},
    {"stage3_max_live_parameters", "", K::count, "ZeRO-3 gathered elements alive at once (default 1e9)", "deepspeed"},
    {"stage3_param_persistence_threshold", "", K::count, "ZeRO-3 tensors below this stay whole (default 1e5)",
     "deepspeed"},
    {"sub_group_size", "", K::count, "ZeRO-3 optimizer-step sub-group elements (default 1e9)", "deepspeed"},
    {"ddp_gradient_as_bucket_view", "", K::boolean, "PyTorch DDP buckets alias the gradients (no second copy)",
     "deepspeed"},
    {"offload_optimizer", "", K::text, "ZeRO-Offload: optimizer states + fp32 master to none | cpu | nvme",
     "deepspeed"},
    {"offload_param", "", K::text, "ZeRO-Infinity (stage 3): parameters to none | cpu | nvme", "deepspeed"},
    {"gpu", "", K::text, "GPU name (h100-80gb, a100-80gb, h200, ...)", "device"},
    {"gpu_memory", "", K::size, "device memory, e.g. 80GiB or 81559MiB", "device"},
    // offload (docs/offload.md) and non-model GPU memory (docs/runtime-memory.md)
    {"gpus_per_node", "", K::integer, "GPUs (ranks) per node for the per-node GPU/host/NVMe totals (default 8)",
     "device"},
    {"offload_activation_checkpoints", "", K::boolean,
     "full-recompute checkpoints in host memory (DeepSpeed cpu_checkpointing)", "offload"},
    {"offload_pin_memory", "", K::boolean,
     "offloaded states in page-locked host memory (DeepSpeed pin_memory, default false)", "offload"},
    {"offload_optimizer_buffer_count", "", K::integer, "NVMe optimizer swap buffers (default 4)", "offload"},
    {"offload_param_buffer_count", "", K::integer, "NVMe parameter swap buffers (default 5)", "offload"},
    {"offload_param_buffer_size", "", K::count, "elements per NVMe parameter swap buffer (default 1e8)", "offload"},
    {"runtime", "", K::boolean, "model non-model GPU memory: context, NCCL, workspaces, allocator (default on)",
     "runtime"},
    {"cuda_context", "", K::size, "CUDA context per process (default 512MiB; 0 = off)", "runtime"},
    {"nccl_buffsize", "", K::size, "NCCL_BUFFSIZE per connection (default 4MiB; 0 = no NCCL memory)", "runtime"},
    {"nccl_channels", "", K::integer, "NCCL channels of a collective (ring) communicator (default 16)", "runtime"},
    {"nccl_p2p_channels", "", K::integer, "NCCL channels per peer for send/recv and all-to-all (default 2)", "runtime"},
    {"cublas_workspace", "", K::size, "cuBLAS workspace (default 32MiB, PyTorch on Hopper; 0 = off)", "runtime"},
    {"attention_workspace", "", K::size, "extra attention-kernel workspace (default 0)", "runtime"},
    {"allocator_rounding", "", K::boolean, "2 MiB segment rounding of the persistent buffers (default true)",
     "runtime"},
    {"allocator_fragmentation", "", K::text, "fragmentation reserve, fraction of the dynamic bytes (default 0.05)",
     "runtime"},
    // inference (docs/inference.md): seq_length is the context (prompt) length, micro_batch_size the sequences
    {"inference", "", K::boolean, "serving memory: weights, KV cache, workspace; no grads/optimizer", "inference"},
    {"max_new_tokens", "", K::integer, "generated tokens per sequence kept in the KV cache (default 0)", "inference"},
    {"weight_dtype", "", K::text, "inference weights: bf16 | fp16 | fp32 | fp8 | int8 | int4 | nf4 (default bf16)",
     "inference"},
    {"kv_cache_dtype", "", K::text,
     "auto | bf16 | fp16 | fp32 | fp8 | fp8_e4m3 | fp8_e5m2 | int8 (default auto: the compute dtype)", "inference"},
    {"kv_block_size", "", K::integer, "paged-attention block in tokens (default 16, vLLM; 0 = contiguous)",
     "inference"},
    {"max_num_batched_tokens", "", K::integer, "tokens per forward, chunked prefill (vLLM; default 0 = whole prompts)",
     "inference"},
    {"quant_group_size", "", K::integer, "weights per quantisation scale (default int8/int4 128, nf4 64)", "inference"},
    {"gpu_memory_utilization", "", K::text, "vLLM: fraction of the GPU it may use, in (0, 1] (default 0.9)",
     "inference"},
    {"max_model_len", "", K::integer, "vLLM: tokens one request may hold (default seq_length + max_new_tokens)",
     "inference"},
    {"max_num_seqs", "", K::integer, "vLLM: requests per step; caps the concurrency (default 128)", "inference"},
    // LoRA / QLoRA fine-tuning (docs/lora.md)
    {"lora_rank", "", K::integer, "LoRA rank r (0 = full fine-tuning)", "lora"},
    {"lora_target_modules", "", K::text,
     "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj | all-linear (default q_proj,v_proj)", "lora"},
    {"base_weight_dtype", "", K::text,
     "frozen base weights: bf16 | fp16 | fp32 | int8 | int4 | nf4 (QLoRA) (default bf16)", "lora"},
    {"double_quantization", "", K::boolean, "QLoRA: quantise the nf4 absmax scales to 8 bits (+ fp32 per 256 blocks)",
     "lora"},
    // output
    {"format", "", K::text, "table | json", "output"},
    {"explain", "", K::boolean, "print the derivation of every term", "output"},
    // scenario text (read by `trainmem explain`; estimate and simulate ignore it)
    {"question", "", K::text, "the question a scenario answers (printed by `trainmem explain`)", "scenario"},
};

}  // namespace

std::string kebab(std::string_view key) {
  std::string s(key);
  for (char& ch : s)
    if (ch == '_') ch = '-';
  return s;
}

std::string suggest_option(std::string_view unknown) {
  std::string best;
  std::size_t best_d = 0;
  for (const auto& o : kOptions) {
    for (std::string_view cand : {o.key, o.alias}) {  // suggests the canonical spellings, not vLLM's
      if (cand.empty()) continue;
      const std::size_t d = edit_distance(unknown, cand);
      if (best.empty() || d < best_d) best = std::string(cand), best_d = d;
    }
  }
  if (best.empty() || best_d > std::max<std::size_t>(3, unknown.size() / 2)) return "";
  return best;
}

std::span<const OptionSpec> option_table() { return kOptions; }

std::vector<std::string_view> aliases_of(const OptionSpec& o) {
  // vLLM's spellings of trainmem keys (vllm serve --tensor-parallel-size, --block-size).
  static constexpr std::pair<std::string_view, std::string_view> kVllmAliases[] = {
      {"tensor_model_parallel_size", "tensor_parallel_size"}, {"kv_block_size", "block_size"}};
  std::vector<std::string_view> out;
  if (!o.alias.empty()) out.push_back(o.alias);
  for (const auto& [key, alias] : kVllmAliases)
    if (key == o.key) out.push_back(alias);
  return out;
}

const OptionSpec* find_option(std::string_view name) {
  for (const auto& o : kOptions) {
    if (o.key == name) return &o;
    for (std::string_view a : aliases_of(o))
      if (a == name) return &o;
  }
  return nullptr;
}

std::string flag_of(std::string_view key) { return "--" + kebab(key); }

Settings merge(Settings base, const Settings& over) {
  for (const auto& [k, v] : over) base[k] = v;
  return base;
}

}  // namespace trainmem::tools
