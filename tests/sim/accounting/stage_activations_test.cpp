// Stage activations: per-layer bytes x layers x in-flight microbatches + extras, recompute methods and
// transients, checked against Korthikanti et al. 2022 (first stage holds L layers' worth under 1F1B) and
// Megatron's uniform/block recompute rules worked by hand.
#include "sim/accounting/stage_activations.hpp"

#include <gtest/gtest.h>

#include "korthikanti_models.hpp"
#include "partition/error.hpp"
#include "sim/accounting/estimate.hpp"

namespace trainmem::sim {
namespace {

using test::kPaperModels;
using test::PaperModel;

Scenario paper_scenario(const PaperModel& pm, bool sp, RecomputeGranularity g, std::int64_t microbatches) {
  Scenario sc;
  ModelSpec m;
  m.name = pm.name;
  m.num_layers = pm.layers;
  m.hidden_size = pm.hidden;
  m.num_attention_heads = pm.heads;
  m.ffn_hidden_size = 4 * pm.hidden;
  m.vocab_size = 51200;
  m.max_position_embeddings = 2048;
  sc.model = m;
  sc.parallel.tp = 8;
  sc.parallel.pp = pm.pp;
  sc.parallel.sequence_parallel = sp;
  sc.training.seq_length = 2048;
  sc.training.micro_batch_size = 1;
  sc.training.global_batch_size = microbatches;
  sc.training.attention = AttentionKernel::eager;
  sc.training.recompute_granularity = g;
  return sc;  // GPT-style: dropout defaults to 0.1
}

TEST(StageActivations, FirstStageHoldsAllLayersWorthUnder1F1B) {
  // Korthikanti Sec. 4.2.3: under 1F1B the first stage keeps pp microbatches of L/pp layers = L layers'
  // worth, so its layer activations are the per-layer Table 2 value x L; plus, for each of the pp
  // microbatches in flight, the embedding dropout mask (sbh/t with SP, 1 byte) and the int64 token ids
  // (8sb), as Megatron's theoretical_memory_usage.py counts them. Microbatches: 2 * pp >= pp.
  for (const auto& pm : kPaperModels) {
    SCOPED_TRACE(pm.name);
    const std::uint64_t s = 2048, h = static_cast<std::uint64_t>(pm.hidden), a = static_cast<std::uint64_t>(pm.heads);
    const std::uint64_t t = 8, L = static_cast<std::uint64_t>(pm.layers), sbh = s * h;
    struct Case {
      bool sp;
      RecomputeGranularity g;
      std::uint64_t per_layer;  // Table 2 row
    } cases[] = {
        {false, RecomputeGranularity::none, 10 * sbh + 24 * sbh / t + 5 * a * s * s / t},
        {true, RecomputeGranularity::none, 34 * sbh / t + 5 * a * s * s / t},
        {false, RecomputeGranularity::selective, 10 * sbh + 24 * sbh / t},
        {true, RecomputeGranularity::selective, 34 * sbh / t},
        {false, RecomputeGranularity::full, 2 * sbh},
    };
    for (const auto& c : cases) {
      const EstimateResult r = estimate(paper_scenario(pm, c.sp, c.g, 2 * pm.pp));
      const auto& first = *r.classes.front().activations;
      ASSERT_EQ(r.classes.front().pp_ranks.front(), 0);
      EXPECT_EQ(first.inflight.chunk_forwards, pm.pp);
      EXPECT_EQ(first.layers_total.value, c.per_layer * L);
      const std::uint64_t mask = (c.sp ? sbh / t : sbh) + 8 * s;  // + token ids
      EXPECT_EQ(first.first.saved_bytes.value * static_cast<std::uint64_t>(first.first_inflight),
                mask * static_cast<std::uint64_t>(pm.pp));
      // With pp > 1 the first stage has no LM head, so the mask is its only extra.
      if (pm.pp > 1) {
        EXPECT_EQ(first.extras_total.value, mask * static_cast<std::uint64_t>(pm.pp));
      }
    }
  }
}

TEST(StageActivations, InterleavingMultipliesByTheKorthikantiFactor) {
  // 175B, pp 8, vpp 2 (6 layers per chunk), 16 microbatches, SP + selective: stage 0 holds
  // L * (1 + (pp-1)/(pp*vpp)) = 96 * (1 + 7/16) = 138 layers' worth of 34sbh/t.
  Scenario sc = paper_scenario(kPaperModels[1], true, RecomputeGranularity::selective, 16);
  sc.parallel.vpp = 2;
  const EstimateResult r = estimate(sc);
  const auto& first = *r.classes.front().activations;
  const std::uint64_t sbh = 2048ULL * 12288;
  EXPECT_EQ(first.layers_total.value, 138 * (34 * sbh / 8));
  EXPECT_EQ(96 * (16 + 7), 138 * 16);  // the factor, cleared of fractions
}

TEST(StageActivations, FullRecomputeUniformAndBlock) {
  // 22B (48 layers, pp 1, one microbatch), tp 8 with SP. Per layer X = 34sbh/t + 5as^2b/t, checkpoint 2sbh/t.
  const std::uint64_t s = 2048, h = 6144, a = 64, t = 8, sbh = s * h;
  const std::uint64_t layer = 34 * sbh / t + 5 * a * s * s / t, ckpt = 2 * sbh / t;
  Scenario sc = paper_scenario(kPaperModels[0], true, RecomputeGranularity::full, 1);
  // uniform, 5 layers per group: ceil(48 / 5) = 10 checkpoints; recomputing a group rebuilds 5 layers.
  sc.training.recompute_method = RecomputeMethod::uniform;
  sc.training.recompute_num_layers = 5;
  auto a1 = *estimate(sc).classes.front().activations;
  EXPECT_EQ(a1.checkpoints_per_chunk, 10);
  EXPECT_EQ(a1.layers_total.value, 10 * ckpt);
  EXPECT_EQ(a1.recompute_transient.value, 5 * layer);
  // block, 10 layers: 10 checkpoints + 38 layers kept whole; recompute rebuilds one layer at a time.
  sc.training.recompute_method = RecomputeMethod::block;
  sc.training.recompute_num_layers = 10;
  auto a2 = *estimate(sc).classes.front().activations;
  EXPECT_EQ(a2.layers_total.value, 10 * ckpt + 38 * layer);
  EXPECT_EQ(a2.recompute_transient.value, layer);
  // The transient goes to `temporaries` at the backward point (sim/accounting/stage_peak.hpp): the last layer's
  // recompute (one layer, block) with its activation gradients, 2 B x (s/t*h + s*4h/t) = 2 x (256*6144 +
  // 2048*3072) = 15,728,640 B (SP: the replicated region holds s/t tokens). The loss point's transient (the bf16
  // logits, 2 * s * V/t with V 51200 -> 6400 rows per rank) is far smaller than that, so backward is the peak.
  const EstimateResult r2 = estimate(sc);
  const std::uint64_t act_grads = 2 * (s / t * h + s * 4 * h / t);
  EXPECT_EQ(act_grads, 15728640U);
  EXPECT_EQ(r2.classes.front().peak_point, "backward");
  EXPECT_EQ(r2.classes.front().bytes[MemoryCategory::temporaries].value, layer + act_grads);
  // Selective: the transient is one layer's attention core, 5as^2b/t.
  Scenario sel = paper_scenario(kPaperModels[0], true, RecomputeGranularity::selective, 1);
  EXPECT_EQ(estimate(sel).classes.front().activations->recompute_transient.value, 5 * a * s * s / t);
}

TEST(StageActivations, PeakIsTheSumOfCategories) {
  const EstimateResult r = estimate(paper_scenario(kPaperModels[1], true, RecomputeGranularity::selective, 16));
  for (const auto& c : r.classes) {
    EXPECT_EQ(c.peak, c.bytes.total());
    // At the loss and p2p points every in-flight tensor is live; at forward and backward one microbatch's loss
    // extras (last stage) are not (sim/accounting/stage_peak.hpp).
    const bool all = c.peak_point == "loss" || c.peak_point == "p2p" || !c.activations->last_stage;
    EXPECT_EQ(c.bytes[MemoryCategory::activations],
              all ? c.activations->total : c.activations->total - c.activations->last.saved_bytes);
  }
}

TEST(StageActivations, BadRecomputeAndScheduleSettingsAreConfigErrors) {
  auto field_of = [](Scenario sc) -> std::string {
    try {
      estimate(sc);
    } catch (const ConfigError& e) {
      return e.field();
    }
    return "(no error)";
  };
  // 175B on pp 8 has 12 layers per stage.
  Scenario sc = paper_scenario(kPaperModels[1], true, RecomputeGranularity::full, 16);
  sc.training.recompute_num_layers = 13;
  EXPECT_EQ(field_of(sc), "recompute_num_layers");
  sc.training.recompute_num_layers = 12;
  EXPECT_EQ(field_of(sc), "(no error)");
  sc.parallel.vpp = 2;  // 6 layers per virtual chunk
  sc.training.recompute_num_layers = 7;
  EXPECT_EQ(field_of(sc), "recompute_num_layers");
  sc.training.recompute_num_layers = 6;
  sc.training.pipeline_schedule = PipelineScheduleOption::gpipe;
  EXPECT_EQ(field_of(sc), "pipeline_schedule");
  Scenario cp = paper_scenario(kPaperModels[0], false, RecomputeGranularity::none, 1);
  cp.parallel.cp = 2;
  EXPECT_EQ(field_of(cp), "attention");  // eager + cp
  cp.training.attention = AttentionKernel::flash;
  cp.training.seq_length = 2046;  // not divisible by 2 * cp
  cp.model->max_position_embeddings = 2048;
  EXPECT_EQ(field_of(cp), "seq_length");
  Scenario drop = paper_scenario(kPaperModels[0], false, RecomputeGranularity::none, 1);
  drop.training.hidden_dropout = 1.0;
  EXPECT_EQ(field_of(drop), "hidden_dropout");
  Scenario uly = paper_scenario(kPaperModels[0], false, RecomputeGranularity::none, 1);
  uly.parallel.dp = 2;
  uly.parallel.ulysses_sp = 2;
  uly.training.global_batch_size = 2;
  uly.model->num_attention_heads = 8;  // tp 8 * ulysses 2 = 16 does not divide 8 heads
  EXPECT_EQ(field_of(uly), "ulysses_sp");
}

// DeepSpeed-Ulysses: the u ranks of a group (carved out of dp) hold seq / u of the same sequences, and DeepSpeed's
// data loader splits the batch over world / sp ranks, so a step of G sequences at micro batch b over dp ranks has
// G / (b * dp / u) microbatches: dp 4 = one group of 4, G = 2 gives 2 microbatches; dp 8 = two groups, G = 3 is
// not a whole number of microbatches per group.
TEST(StageActivations, UlyssesGroupsShareTheirSequences) {
  Scenario sc = paper_scenario(kPaperModels[0], false, RecomputeGranularity::none, 2);
  sc.parallel.tp = 1;
  sc.parallel.pp = 1;
  sc.parallel.dp = 4;
  sc.parallel.ulysses_sp = 4;
  EXPECT_EQ(resolve_scenario(sc).num_microbatches, 2);
  sc.training.global_batch_size = 0;  // the default: one micro batch per group
  EXPECT_EQ(resolve_scenario(sc).scenario.training.global_batch_size, 1);
  sc.parallel.dp = 8;
  sc.training.global_batch_size = 3;
  try {
    (void)resolve_scenario(sc);
    ADD_FAILURE() << "3 sequences over 2 Ulysses groups accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), "global_batch_size");
    EXPECT_NE(std::string(e.what()).find("micro_batch_size * dp / ulysses_sp = 1 * 8 / 4"), std::string::npos)
        << e.what();
  }
}

TEST(StageActivations, BareParameterCountHasNoActivations) {
  Scenario sc;
  sc.num_parameters = ElementCount(7'500'000'000ULL);
  const EstimateResult r = estimate(sc);
  EXPECT_FALSE(r.classes.front().activations.has_value());
  EXPECT_EQ(r.classes.front().bytes[MemoryCategory::activations].value, 0u);
}

}  // namespace
}  // namespace trainmem::sim
