#include "sim/engine/event_engine.hpp"

#include <string>

#include "partition/error.hpp"
#include "sim/schedule/steady_state.hpp"

namespace trainmem::sim {
namespace {

class Replay {
 public:
  explicit Replay(bool keep) : keep_(keep) {}

  void alloc(MemoryCategory c, Bytes b, StepEvent e) {
    record(e, [&](std::uint32_t i) { ledger_.alloc(c, b, i); });
  }
  void free(MemoryCategory c, Bytes b, StepEvent e) {
    record(e, [&](std::uint32_t i) { ledger_.free(c, b, i); });
  }

  StageSimulation finish() {
    out_.peak = ledger_.peak();
    out_.at_peak = ledger_.at_peak();
    out_.peak_event = peak_event_;
    out_.peak_event_index = ledger_.peak_event();
    out_.category_max = ledger_.category_max();
    return std::move(out_);
  }
  StageSimulation& out() { return out_; }

 private:
  template <typename F>
  void record(const StepEvent& e, F&& apply) {
    const std::uint32_t index = next_++;
    const Bytes before = ledger_.peak();
    apply(index);
    if (ledger_.peak_event() == index && (ledger_.peak() > before || index == 0)) peak_event_ = e;
    if (keep_) {
      out_.events.push_back(e);
      out_.timeline.push_back({index, ledger_.current()});
    }
  }

  bool keep_;
  MemoryLedger ledger_;
  StageSimulation out_;
  StepEvent peak_event_;
  std::uint32_t next_ = 0;
};

}  // namespace

StageSimulation simulate_stage(const StageStepInputs& in, bool keep_timeline) {
  if (in.chunk_layers.size() != static_cast<std::size_t>(in.vpp) ||
      in.chunk_first_layer.size() != in.chunk_layers.size())
    throw Error("event engine: chunk_layers must have vpp entries");
  std::vector<std::size_t> chunk_offset(in.chunk_layers.size(), 0);  // local index of each chunk's first layer
  std::size_t stage_layers = 0;
  for (std::size_t c = 0; c < in.chunk_layers.size(); ++c) {
    chunk_offset[c] = stage_layers;
    stage_layers += static_cast<std::size_t>(in.chunk_layers[c]);
  }
  const bool gathers = !in.layer_gather.empty();
  if (gathers && (in.layer_gather.size() != stage_layers || in.layer_gather_grads.size() != stage_layers))
    throw Error("event engine: layer_gather and layer_gather_grads need one entry per layer of the stage");
  if (in.layer_activation.size() != stage_layers || in.recompute_transient.size() != stage_layers)
    throw Error("event engine: layer_activation and recompute_transient need one entry per layer of the stage");
  const bool lazy_grads = !in.layer_grads.empty();
  if (lazy_grads && in.layer_grads.size() != stage_layers)
    throw Error("event engine: layer_grads needs one entry per layer of the stage");
  std::vector<bool> has_grads(stage_layers, false);
  bool late_grads_done = in.late_grads.value == 0;
  // Without a timeline only the peaks are kept: replay the steady-state bound of microbatches (the same states,
  // sim/schedule/steady_state.hpp) and label the cool-down's backwards with the microbatches they stand for.
  const std::int64_t replayed =
      keep_timeline ? in.num_microbatches : steady_state_microbatches(in.schedule, in.pp, in.num_microbatches);
  std::vector<ScheduleOp> ops = schedule_ops(in.schedule, ScheduleShape{in.pp, in.pp_rank, in.vpp, replayed});
  std::vector<std::int32_t> label(ops.size());
  {
    std::size_t last_forward = 0;
    for (std::size_t i = 0; i < ops.size(); ++i)
      if (ops[i].kind == ScheduleOp::Kind::forward) last_forward = i;
    const auto shift = static_cast<std::int32_t>(in.num_microbatches - replayed);
    for (std::size_t i = 0; i < ops.size(); ++i) label[i] = ops[i].microbatch + (i > last_forward ? shift : 0);
  }
  Replay r(keep_timeline);
  using Phase = StepEvent::Phase;
  const bool first_stage = in.pp_rank == 0;
  const bool last_stage = in.pp_rank == in.pp - 1;
  const auto last_chunk = static_cast<std::int32_t>(in.vpp - 1);

  for (auto c : kMemoryCategories)
    if (in.persistent[c].value != 0)
      r.alloc(c, in.persistent[c], {Phase::setup, -1, -1, -1, "persistent model states and buffers"});

  std::vector<std::int32_t> live_chunks(static_cast<std::size_t>(replayed), 0);
  std::int64_t live = 0;
  bool send_pending = false;
  auto drain_send = [&](const StepEvent& e) {
    if (send_pending)
      r.free(MemoryCategory::buffers, in.p2p_send_buffer, {e.phase, e.microbatch, e.chunk, -1, "p2p send done"});
    send_pending = false;
  };

  for (std::size_t oi = 0; oi < ops.size(); ++oi) {
    const ScheduleOp op{ops[oi].kind, label[oi], ops[oi].chunk};
    const auto slot = static_cast<std::size_t>(ops[oi].microbatch);  // index into live_chunks
    const auto chunk = static_cast<std::size_t>(op.chunk);
    const std::int64_t first = in.chunk_first_layer[chunk];
    const std::int64_t n = in.chunk_layers[chunk];
    if (op.kind == ScheduleOp::Kind::forward) {
      const StepEvent at{Phase::forward, op.microbatch, op.chunk, -1, ""};
      drain_send(at);
      if (live_chunks[slot]++ == 0) r.out().max_live_microbatches = std::max(r.out().max_live_microbatches, ++live);
      if (first_stage && op.chunk == 0 && in.embedding_activation.value != 0)
        r.alloc(MemoryCategory::activations, in.embedding_activation,
                {Phase::forward, op.microbatch, op.chunk, -1, "embedding output"});
      for (std::int64_t l = 0; l < n; ++l) {
        const std::size_t local = chunk_offset[chunk] + static_cast<std::size_t>(l);
        const StepEvent e{Phase::forward, op.microbatch, op.chunk, static_cast<std::int32_t>(first + l),
                          "saved activations"};
        if (gathers)
          r.alloc(MemoryCategory::buffers, in.layer_gather[local],
                  {e.phase, e.microbatch, e.chunk, e.layer, "ZeRO-3 parameter gather"});
        r.alloc(MemoryCategory::activations, in.layer_activation[local], e);
        if (in.attention_transient.value != 0) {
          r.alloc(MemoryCategory::temporaries, in.attention_transient,
                  {e.phase, e.microbatch, e.chunk, e.layer, "context-parallel K/V exchange"});
          r.free(MemoryCategory::temporaries, in.attention_transient,
                 {e.phase, e.microbatch, e.chunk, e.layer, "K/V exchange done"});
        }
        if (gathers)
          r.free(MemoryCategory::buffers, in.layer_gather[local],
                 {e.phase, e.microbatch, e.chunk, e.layer, "ZeRO-3 parameters released"});
      }
      if (last_stage && op.chunk == last_chunk && in.output_activation.value != 0)
        r.alloc(MemoryCategory::activations, in.output_activation,
                {Phase::forward, op.microbatch, op.chunk, -1, "final norm, logits and loss"});
      if (last_stage && op.chunk == last_chunk && in.output_transient.value != 0) {
        r.alloc(MemoryCategory::temporaries, in.output_transient,
                {Phase::forward, op.microbatch, op.chunk, -1, "loss computation"});
        r.free(MemoryCategory::temporaries, in.output_transient,
               {Phase::forward, op.microbatch, op.chunk, -1, "loss computed"});
      }
      const bool sends = !(last_stage && op.chunk == last_chunk);
      if (sends && in.p2p_send_buffer.value != 0) {
        r.alloc(MemoryCategory::buffers, in.p2p_send_buffer,
                {Phase::forward, op.microbatch, op.chunk, -1, "p2p send buffer"});
        send_pending = true;
      }
    } else {
      const StepEvent at{Phase::backward, op.microbatch, op.chunk, -1, ""};
      drain_send(at);
      if (last_stage && op.chunk == last_chunk && in.loss_grad_transient.value != 0) {
        r.alloc(MemoryCategory::temporaries, in.loss_grad_transient,
                {Phase::backward, op.microbatch, op.chunk, -1, "backward start: loss gradients"});
        r.free(MemoryCategory::temporaries, in.loss_grad_transient,
               {Phase::backward, op.microbatch, op.chunk, -1, "loss gradients freed"});
      }
      if (last_stage && op.chunk == last_chunk && in.output_activation.value != 0)
        r.free(MemoryCategory::activations, in.output_activation,
               {Phase::backward, op.microbatch, op.chunk, -1, "logits and loss freed"});
      for (std::int64_t l = n - 1; l >= 0; --l) {
        const std::size_t local = chunk_offset[chunk] + static_cast<std::size_t>(l);
        const StepEvent e{Phase::backward, op.microbatch, op.chunk, static_cast<std::int32_t>(first + l), "recompute"};
        if (gathers) {
          r.alloc(MemoryCategory::buffers, in.layer_gather[local],
                  {e.phase, e.microbatch, e.chunk, e.layer, "ZeRO-3 parameter gather"});
          r.alloc(MemoryCategory::temporaries, in.layer_gather_grads[local],
                  {e.phase, e.microbatch, e.chunk, e.layer, "full-size gradients before reduce-scatter"});
        }
        if (in.attention_transient.value != 0) {
          r.alloc(MemoryCategory::temporaries, in.attention_transient,
                  {e.phase, e.microbatch, e.chunk, e.layer, "context-parallel K/V exchange"});
          r.free(MemoryCategory::temporaries, in.attention_transient,
                 {e.phase, e.microbatch, e.chunk, e.layer, "K/V exchange done"});
        }
        if (in.backward_transient.value != 0)
          r.alloc(MemoryCategory::temporaries, in.backward_transient,
                  {e.phase, e.microbatch, e.chunk, e.layer, "activation gradients"});
        if (in.recompute_transient[local].value != 0) {
          r.alloc(MemoryCategory::temporaries, in.recompute_transient[local], e);
          r.free(MemoryCategory::temporaries, in.recompute_transient[local],
                 {e.phase, e.microbatch, e.chunk, e.layer, "recomputed activations freed"});
        }
        if (in.backward_transient.value != 0)
          r.free(MemoryCategory::temporaries, in.backward_transient,
                 {e.phase, e.microbatch, e.chunk, e.layer, "activation gradients freed"});
        if (gathers) {
          r.free(MemoryCategory::temporaries, in.layer_gather_grads[local],
                 {e.phase, e.microbatch, e.chunk, e.layer, "gradients reduce-scattered"});
          r.free(MemoryCategory::buffers, in.layer_gather[local],
                 {e.phase, e.microbatch, e.chunk, e.layer, "ZeRO-3 parameters released"});
        }
        r.free(MemoryCategory::activations, in.layer_activation[local],
               {e.phase, e.microbatch, e.chunk, e.layer, "saved activations freed"});
        if (lazy_grads && !has_grads[local]) {
          has_grads[local] = true;
          if (in.layer_grads[local].value != 0)
            r.alloc(MemoryCategory::grads, in.layer_grads[local],
                    {e.phase, e.microbatch, e.chunk, e.layer, "layer gradients allocated"});
        }
      }
      if (first_stage && op.chunk == 0 && in.embedding_activation.value != 0)
        r.free(MemoryCategory::activations, in.embedding_activation,
               {Phase::backward, op.microbatch, op.chunk, -1, "embedding output freed"});
      if (!late_grads_done) {
        late_grads_done = true;
        r.alloc(MemoryCategory::grads, in.late_grads,
                {Phase::backward, op.microbatch, op.chunk, -1, "embedding, norm and LM head gradients allocated"});
      }
      if (--live_chunks[slot] == 0) --live;
      if (!first_stage || op.chunk != 0) {
        if (in.p2p_send_buffer.value != 0) {
          r.alloc(MemoryCategory::buffers, in.p2p_send_buffer,
                  {Phase::backward, op.microbatch, op.chunk, -1, "p2p send buffer (input grad)"});
          send_pending = true;
        }
      }
    }
  }
  drain_send({Phase::optimizer, -1, -1, -1, ""});
  if (in.optimizer_transient.value != 0) {
    r.alloc(MemoryCategory::temporaries, in.optimizer_transient,
            {Phase::optimizer, -1, -1, -1, "optimizer step scratch"});
    r.free(MemoryCategory::temporaries, in.optimizer_transient,
           {Phase::optimizer, -1, -1, -1, "optimizer step scratch freed"});
  }
  if (in.param_gather_transient.value != 0) {
    r.alloc(MemoryCategory::buffers, in.param_gather_transient,
            {Phase::optimizer, -1, -1, -1, "parameter all-gather bucket"});
    r.free(MemoryCategory::buffers, in.param_gather_transient,
           {Phase::optimizer, -1, -1, -1, "parameter all-gather done"});
  }
  return r.finish();
}

std::string describe(const StepEvent& e, std::int64_t pp_rank) {
  static constexpr const char* kPhase[] = {"setup", "forward", "backward", "optimizer step"};
  std::string s = kPhase[static_cast<int>(e.phase)];
  if (e.microbatch >= 0) s += ", microbatch " + std::to_string(e.microbatch);
  if (e.layer >= 0) s += ", layer " + std::to_string(e.layer);
  if (e.chunk >= 0) s += " (chunk " + std::to_string(e.chunk) + ")";
  s += ", stage " + std::to_string(pp_rank);
  if (e.what[0] != '\0') s += std::string(": ") + e.what;
  return s;
}

}  // namespace trainmem::sim
