// DeepSeek-V2/V3: multi-head latent attention, first_k_dense_replace dense layers, shared experts, the V3 router
// bias and multi-token prediction, against the published totals (DeepSeek-V2 / V3 technical reports and model
// cards: V2-Lite 15.7B, V2 236B, V3 671B main model + 14B MTP = 685B in the checkpoint).
#include <gtest/gtest.h>

#include "partition/error.hpp"
#include "partition/layer_assignment.hpp"
#include "partition/model_presets.hpp"
#include "partition/model_spec.hpp"
#include "partition/parallel_config.hpp"
#include "partition/shard_plan.hpp"

namespace trainmem {
namespace {

const ModelSpec& preset(const char* name) {
  const ModelPreset* p = find_model_preset(name);
  EXPECT_NE(p, nullptr) << name;
  return p->spec;
}

TEST(DeepSeek, V2LiteHasNoQLora) {
  // h 2048, 16 heads, q_lora_rank null, kv_lora 512, nope 128, rope 64, v 128, 27 layers (first dense), 64 experts
  // of 1408, 2 shared, dense MLP 10944, vocab 102400, untied. Attention: q_proj 2048*16*192 = 6,291,456;
  // kv_a_proj 2048*(512+64) = 1,179,648; kv_a_layernorm 512; kv_b_proj 512*16*(128+128) = 2,097,152; o_proj
  // 16*128*2048 = 4,194,304 -> 13,763,072; 2 norms 4,096 -> 13,767,168. Dense layer + 3*2048*10944 = 67,239,936
  // -> 81,007,104. MoE layer + experts 64*3*2048*1408 = 553,648,128, shared 3*2048*2816 = 17,301,504, router
  // 64*2048 = 131,072 -> 584,847,872. 81,007,104 + 26 * 584,847,872 = 15,287,051,776; embeddings 2*102400*2048 =
  // 419,430,400; final norm 2,048 -> 15,706,484,224 ("15.7B").
  const ModelSpec& m = preset("deepseek-v2-lite");
  EXPECT_EQ(layer_params(m, TensorSplit{}, true).dense.value, 81'007'104u);
  const LayerParams moe = layer_params(m, TensorSplit{});
  EXPECT_EQ((moe.dense + moe.expert).value, 584'847'872u);
  EXPECT_EQ(total_parameters(m).value, 15'706'484'224ULL);
}

TEST(DeepSeek, V2AndV3PublishedTotals) {
  // DeepSeek-V2: h 5120, 128 heads, q_lora 1536. Attention: q_a 5120*1536 = 7,864,320; q_a_layernorm 1,536; q_b
  // 1536*128*192 = 37,748,736; kv_a 5120*576 = 2,949,120; kv_a_layernorm 512; kv_b 512*128*256 = 16,777,216;
  // o 128*128*5120 = 83,886,080; norms 10,240 -> 149,237,760. Dense layer + 3*5120*12288 = 188,743,680 ->
  // 337,981,440. MoE layer + experts 160*3*5120*1536 = 3,774,873,600, shared 3*5120*3072 = 47,185,920, router
  // 160*5120 = 819,200 -> 3,972,116,480. 337,981,440 + 59 * 3,972,116,480 + 2*102400*5120 + 5120 =
  // 235,741,434,880 ("236B").
  EXPECT_EQ(total_parameters(preset("deepseek-v2")).value, 235'741'434'880ULL);
  // DeepSeek-V3: h 7168. Attention: q_a 7168*1536 = 11,010,048; q_a_layernorm 1,536; q_b 37,748,736; kv_a
  // 7168*576 = 4,128,768; kv_a_layernorm 512; kv_b 16,777,216; o 128*128*7168 = 117,440,512; norms 14,336 ->
  // 187,121,664. Dense layer + 3*7168*18432 = 396,361,728 -> 583,483,392 (x3). MoE layer + experts
  // 256*3*7168*2048 = 11,274,289,152, shared 3*7168*2048 = 44,040,192, router 256*7168 = 1,835,008, router bias
  // 256 -> 11,507,286,272 (x58). 1,750,450,176 + 667,422,603,776 + 2*129280*7168 (1,853,358,080) + 7168 =
  // 671,026,419,200: the published 671B is the main model without the MTP module.
  const ModelSpec& v3 = preset("deepseek-v3");
  EXPECT_EQ(total_parameters(v3).value, 671'026'419'200ULL);
  // One MTP module: its MoE layer 11,507,286,272 + enorm, hnorm and final norm 3*7168 + eh_proj 2*7168*7168 =
  // 102,760,448 -> 11,610,068,224, sharing the embedding and the output layer: 682,636,487,424 for training.
  // The checkpoint's 685B also stores copies of the embedding and head in layer 61 (+1,853,358,080 =
  // 684,489,845,504) and the FP8 block scales.
  ModelSpec mtp = v3;
  mtp.mtp_layers = 1;
  EXPECT_EQ(total_parameters(mtp).value, 682'636'487'424ULL);
}

TEST(DeepSeek, MlaTensorParallelSplit) {
  // V3 MoE layer at tp 8: the down projections and their norms are whole on every rank (q_a 11,010,048,
  // q_a_layernorm 1,536, kv_a 4,128,768, kv_a_layernorm 512), the up projections and o_proj split by heads
  // (q_b 37,748,736/8 = 4,718,592, kv_b 16,777,216/8 = 2,097,152, o 117,440,512/8 = 14,680,064) -> 36,636,672;
  // norms 14,336; router 1,835,008 + bias 256; shared expert 44,040,192/8 = 5,505,024 -> 43,991,296 dense.
  const LayerParams p = layer_params(preset("deepseek-v3"), TensorSplit{8, 1, 8});
  EXPECT_EQ(p.dense.value, 43'991'296u);
  EXPECT_EQ(p.expert.value, 11'274'289'152u / 8);  // 32 of 256 experts per ep rank
}

TEST(DeepSeek, FirstDenseLayersInTheStageShard) {
  // V2-Lite at pp 3 (no tp): stage 0 holds layer 0 (dense, 81,007,104) and 8 MoE layers (584,847,872 each:
  // 13,767,168 + 17,301,504 + 131,072 = 31,199,744 dense part, 553,648,128 experts), plus the embedding
  // 102,400 rows (a multiple of 128) * 2048 = 209,715,200.
  const ModelSpec& m = preset("deepseek-v2-lite");
  ParallelConfig c;
  c.pp = 3;
  c = resolve(c, &m);
  const auto stages = assign_layers(m.num_layers, c);
  ASSERT_EQ(stages.size(), 3u);
  const RankParamShard s0 = rank_param_shard(m, c, stages[0]);
  EXPECT_EQ(s0.dense.value, 81'007'104ULL + 8ULL * 31'199'744ULL + 209'715'200ULL);
  EXPECT_EQ(s0.expert.value, 8ULL * 553'648'128ULL);
  // Stages 1 and 2: 9 MoE layers each, stage 2 also the final norm and the untied output layer: the model once.
  EXPECT_EQ(rank_param_shard(m, c, stages[1]).total().value, 9ULL * 584'847'872ULL);
  EXPECT_EQ(s0.total().value + rank_param_shard(m, c, stages[1]).total().value +
                rank_param_shard(m, c, stages[2]).total().value,
            15'706'484'224ULL);
}

TEST(DeepSeek, RefusesInconsistentMlaAndDenseLayers) {
  ModelSpec m = preset("deepseek-v2-lite");
  m.v_head_dim = 0;
  EXPECT_THROW(validate(m), ConfigError);
  m = preset("deepseek-v2-lite");
  m.num_query_groups = 4;
  EXPECT_THROW(validate(m), ConfigError);
  m = preset("deepseek-v2-lite");
  m.first_dense_layers = 28;  // more than num_layers
  EXPECT_THROW(validate(m), ConfigError);
  m = preset("llama2-7b");
  m.moe_router_bias = true;  // a dense model has no router
  EXPECT_THROW(validate(m), ConfigError);
  EXPECT_EQ(architecture_extension(preset("deepseek-v3")), "kv_lora_rank");
}

}  // namespace
}  // namespace trainmem
