#include "devices/catalog.h"

#include <gtest/gtest.h>

namespace dsmil::devices {
namespace {

TEST(Catalog, TokenBasesMatchTheSpecTable) {
  // Spec §3.1: 14 -> 0x802A, 22 -> 0x8042, 23 -> 0x8045, 32 -> 0x8060,
  // 33 -> 0x8063, 35 -> 0x8069, 36 -> 0x806C, 42 -> 0x807E, 43 -> 0x8081,
  // 50 -> 0x8096, 51 -> 0x8099, 58 -> 0x80AE, 59 -> 0x80B1, 62 -> 0x80BA;
  // compose: 18 -> 0x8036.
  const std::pair<int, uint16_t> table[] = {
      {14, 0x802A}, {18, 0x8036}, {22, 0x8042}, {23, 0x8045}, {32, 0x8060}, {33, 0x8063}, {35, 0x8069}, {36, 0x806C},
      {42, 0x807E}, {43, 0x8081}, {44, 0x8084}, {45, 0x8087}, {46, 0x808A}, {47, 0x808D}, {48, 0x8090}, {49, 0x8093},
      {50, 0x8096}, {51, 0x8099}, {52, 0x809C}, {53, 0x809F}, {54, 0x80A2}, {55, 0x80A5}, {56, 0x80A8}, {57, 0x80AB},
      {58, 0x80AE}, {59, 0x80B1}, {60, 0x80B4}, {61, 0x80B7}, {62, 0x80BA}};
  for (auto [id, base] : table) {
    ASSERT_NE(FindDevice(id), nullptr) << id;
    EXPECT_EQ(FindDevice(id)->token_base, base) << "device " << id;
  }
  static_assert(TokenBase(43) == 0x8081);
  for (const DeviceInfo& d : AllDevices()) EXPECT_EQ(d.token_base, 0x8000 + 3 * d.id);
}

TEST(Catalog, LayersByRange) {
  EXPECT_EQ(LayerOf(13), Layer::kUnassigned);
  EXPECT_EQ(LayerOf(14), Layer::kL3);
  EXPECT_EQ(LayerOf(22), Layer::kL3);
  EXPECT_EQ(LayerOf(23), Layer::kL4);
  EXPECT_EQ(LayerOf(32), Layer::kL4);
  EXPECT_EQ(LayerOf(33), Layer::kL5);
  EXPECT_EQ(LayerOf(36), Layer::kL6);
  EXPECT_EQ(LayerOf(43), Layer::kL7);
  EXPECT_EQ(LayerOf(50), Layer::kL7);
  EXPECT_EQ(LayerOf(51), Layer::kL8);
  EXPECT_EQ(LayerOf(59), Layer::kL9);
  EXPECT_EQ(LayerOf(62), Layer::kL9);
  EXPECT_EQ(LayerOf(63), Layer::kUnassigned);
  EXPECT_EQ(LayerOf(103), Layer::kUnassigned);
  EXPECT_EQ(LayerOf(-1), Layer::kUnassigned);
  EXPECT_EQ(LayerOf(104), Layer::kUnassigned);
  EXPECT_EQ(DevicesOfLayer(Layer::kL3).size(), 9u);
  EXPECT_EQ(DevicesOfLayer(Layer::kL4).size(), 10u);
  EXPECT_EQ(DevicesOfLayer(Layer::kL5).size(), 3u);
  EXPECT_EQ(DevicesOfLayer(Layer::kL6).size(), 7u);
  EXPECT_EQ(DevicesOfLayer(Layer::kL7).size(), 8u);
  EXPECT_EQ(DevicesOfLayer(Layer::kL8).size(), 8u);
  EXPECT_EQ(DevicesOfLayer(Layer::kL9).size(), 4u);
  EXPECT_EQ(DevicesOfLayer(Layer::kUnassigned).size(), 104u - 49u);
  EXPECT_EQ(LayerRange(Layer::kL8), std::make_pair(51, 58));
  EXPECT_EQ(DevicesOfLayer(Layer::kL7).front()->id, 43);
}

TEST(Catalog, MemoryBudgetsOfTheSpec) {
  // Spec §2: L3 9 GB, L4 10 GB, L5 3 GB, L6 7 GB, L7 40 GB, L8 8 GB, L9 12 GB.
  EXPECT_EQ(LayerMemoryGb(Layer::kL3), 9u);
  EXPECT_EQ(LayerMemoryGb(Layer::kL4), 10u);
  EXPECT_EQ(LayerMemoryGb(Layer::kL5), 3u);
  EXPECT_EQ(LayerMemoryGb(Layer::kL6), 7u);
  EXPECT_EQ(LayerMemoryGb(Layer::kL7), 40u);
  EXPECT_EQ(LayerMemoryGb(Layer::kL8), 8u);
  EXPECT_EQ(LayerMemoryGb(Layer::kL9), 12u);
  EXPECT_EQ(LayerMemoryGb(Layer::kUnassigned), 0u);
  EXPECT_EQ(FindDevice(43)->memory_gb, 5u);
  EXPECT_EQ(FindDevice(44)->memory_gb, 2u);
  EXPECT_EQ(FindDevice(45)->memory_gb, 3u);
  EXPECT_EQ(FindDevice(47)->memory_gb, 20u);
  EXPECT_EQ(FindDevice(48)->memory_gb, 4u);
  EXPECT_EQ(FindDevice(47)->memory_bytes(), 20ull << 30);
  EXPECT_EQ(FindDevice(61)->memory_gb, 3u);
  EXPECT_EQ(FindDevice(20)->memory_gb, 1u);
}

TEST(Catalog, NamesAndRoles) {
  EXPECT_EQ(FindDevice(43)->name, "L7 Router");
  EXPECT_EQ(FindDevice(47)->name, "Primary LLM (7B, AMX)");
  EXPECT_EQ(FindDevice(50)->name, "RAG Engine");
  EXPECT_EQ(FindDevice(51)->name, "Adversarial ML Defense");
  EXPECT_EQ(FindDevice(52)->name, "Security Analytics Fusion");
  EXPECT_EQ(FindDevice(58)->name, "SOAR Orchestrator");
  EXPECT_EQ(FindDevice(59)->name, "COA Engine");
  EXPECT_EQ(FindDevice(61)->name, "NC3 Integration");
  EXPECT_EQ(FindDevice(18)->name, "Adaptive Router");
  EXPECT_EQ(FindDevice(15)->name, "Rapid response, sensor fusion");
  EXPECT_EQ(FindDevice(0)->name, "");
  EXPECT_FALSE(FindDevice(0)->assigned());
  EXPECT_EQ(FindDevice(0)->home_role, HomeRole::kNone);
  for (int id : {14, 23, 51, 59}) EXPECT_EQ(FindDevice(id)->home_role, HomeRole::kSoc) << id;
  for (int id : {33, 36, 43, 47}) EXPECT_EQ(FindDevice(id)->home_role, HomeRole::kAi) << id;
  EXPECT_EQ(HomeRoleName(HomeRole::kSoc), "soc");
  EXPECT_EQ(LayerHomeRole(Layer::kL7), HomeRole::kAi);
  for (const DeviceInfo& d : AllDevices()) {
    EXPECT_EQ(d.assigned(), !d.name.empty()) << d.id;
    EXPECT_EQ(d.assigned(), d.memory_gb > 0) << d.id;
  }
}

TEST(Catalog, LookupAndRange) {
  EXPECT_EQ(AllDevices().size(), 104u);
  for (size_t i = 0; i < AllDevices().size(); ++i) EXPECT_EQ(AllDevices()[i].id, int(i));
  EXPECT_EQ(FindDevice(-1), nullptr);
  EXPECT_EQ(FindDevice(104), nullptr);
  EXPECT_NE(FindDevice(103), nullptr);
  Result<const DeviceInfo*> bad = LookupDevice(104);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "device 104 out of range 0..103");
  EXPECT_EQ(LookupDevice(61).value()->layer, Layer::kL9);
}

TEST(Catalog, LayerNames) {
  EXPECT_EQ(LayerName(Layer::kL7), "L7");
  EXPECT_EQ(LayerName(Layer::kUnassigned), "UNASSIGNED");
  EXPECT_EQ(LayerDisplayName(Layer::kL3), "L3 Adaptive");
  EXPECT_EQ(LayerDisplayName(Layer::kL4), "L4 Reactive");
  EXPECT_EQ(LayerDisplayName(Layer::kL5), "L5 Predictive");
  EXPECT_EQ(LayerDisplayName(Layer::kL6), "L6 Proactive");
  EXPECT_EQ(LayerDisplayName(Layer::kL7), "L7 Extended");
  EXPECT_EQ(LayerDisplayName(Layer::kL8), "L8 Enhanced Sec");
  EXPECT_EQ(LayerDisplayName(Layer::kL9), "L9 Executive");
  EXPECT_EQ(ParseLayer("L7").value(), Layer::kL7);
  EXPECT_EQ(ParseLayer("l8").value(), Layer::kL8);
  EXPECT_EQ(ParseLayer("9").value(), Layer::kL9);
  EXPECT_EQ(ParseLayer("ENHANCED_SEC").value(), Layer::kL8);
  EXPECT_EQ(ParseLayer("L3 Adaptive").value(), Layer::kL3);
  EXPECT_FALSE(ParseLayer("L2").ok());
  EXPECT_FALSE(ParseLayer("UNASSIGNED").ok());
  EXPECT_FALSE(ParseLayer("").ok());
  for (Layer l : {Layer::kL3, Layer::kL4, Layer::kL5, Layer::kL6, Layer::kL7, Layer::kL8, Layer::kL9}) {
    EXPECT_EQ(ParseLayer(LayerName(l)).value(), l);
  }
}

// Spec §6.1's p99 latency SLOs, and none for a device the table omits.
TEST(Catalog, LatencySlos) {
  EXPECT_EQ(LatencySloMs(18), 50.0);
  EXPECT_EQ(LatencySloMs(25), 100.0);
  EXPECT_EQ(LatencySloMs(33), 200.0);
  EXPECT_EQ(LatencySloMs(37), 300.0);
  EXPECT_EQ(LatencySloMs(43), 500.0);
  EXPECT_EQ(LatencySloMs(47), 2000.0);
  EXPECT_EQ(LatencySloMs(58), 200.0);
  EXPECT_EQ(LatencySloMs(59), 3000.0);
  EXPECT_FALSE(LatencySloMs(19).has_value());
  EXPECT_FALSE(LatencySloMs(104).has_value());
}

}  // namespace
}  // namespace dsmil::devices
