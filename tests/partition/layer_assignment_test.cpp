#include "partition/layer_assignment.hpp"

#include <gtest/gtest.h>

namespace trainmem {
namespace {

TEST(LayerAssignment, EvenSplitPutsEmbeddingFirstAndHeadLast) {
  ParallelConfig c;
  c.pp = 4;
  const auto stages = assign_layers(32, c);
  ASSERT_EQ(stages.size(), 4u);
  for (const auto& s : stages) EXPECT_EQ(s.num_layers, 8);
  EXPECT_TRUE(stages[0].has_embedding);
  EXPECT_FALSE(stages[1].has_embedding);
  EXPECT_TRUE(stages[3].has_output_layer);
  EXPECT_FALSE(stages[2].has_output_layer);
  EXPECT_EQ(stages[2].chunks[0].first_layer, 16);
}

TEST(LayerAssignment, InterleavedChunksAreRoundRobin) {
  // 16 layers, pp 2, vpp 2: 4-layer chunks; stage 0 holds model chunks 0 and 2 (layers 0-3, 8-11).
  ParallelConfig c;
  c.pp = 2;
  c.vpp = 2;
  const auto stages = assign_layers(16, c);
  EXPECT_EQ(stages[0].num_layers, 8);
  ASSERT_EQ(stages[0].chunks.size(), 2u);
  EXPECT_EQ(stages[0].chunks[1].first_layer, 8);
  EXPECT_EQ(stages[1].chunks[0].first_layer, 4);
  EXPECT_EQ(stages[1].chunks[1].first_layer, 12);
}

TEST(LayerAssignment, UnevenFirstAndLastStage) {
  // 32 layers, pp 4, first 5, last 7: the middle stages share 20 -> 10 each.
  ParallelConfig c;
  c.pp = 4;
  c.first_stage_layers = 5;
  c.last_stage_layers = 7;
  const auto stages = assign_layers(32, c);
  EXPECT_EQ(stages[0].num_layers, 5);
  EXPECT_EQ(stages[1].num_layers, 10);
  EXPECT_EQ(stages[2].num_layers, 10);
  EXPECT_EQ(stages[3].num_layers, 7);
  EXPECT_EQ(stages[3].chunks[0].first_layer, 25);
}

}  // namespace
}  // namespace trainmem
