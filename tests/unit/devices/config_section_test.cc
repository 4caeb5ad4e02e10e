#include "devices/config_section.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "devices/device.h"

namespace dsmil::devices {
namespace {

// A section of a test device group: {"size": N}.
struct WidgetConfig {
  int size = 0;
};

Result<WidgetConfig> ParseWidget(const std::string& text, const std::string& config_dir) {
  if (text == R"({"size":0})") return Status::InvalidArgument("widget.size: must be a positive integer");
  if (text == "[]") return Status::InvalidArgument("must be a mapping");
  if (text.rfind(R"({"size":)", 0) != 0) return Status::InvalidArgument("widget: unexpected text");
  return WidgetConfig{std::stoi(text.substr(8))};
}

// Records the section the device saw.
class WidgetDevice final : public Device {
 public:
  explicit WidgetDevice(const DeviceContext& ctx) : ctx_(ctx) {}
  int id() const override { return ctx_.id; }
  const std::string& tenant() const override { return ctx_.tenant; }
  Status Start() override { return Status::Ok(); }
  void Stop() override {}
  DeviceHealth Health() const override { return {DeviceState::kHealthy, ""}; }
  Result<dbe::Message> Handle(const dbe::Message& request) override { return request; }
  const DeviceContext& ctx() const { return ctx_; }

 private:
  DeviceContext ctx_;
};

Result<std::unique_ptr<Device>> MakeWidget(const DeviceContext& ctx) {
  return std::unique_ptr<Device>(new WidgetDevice(ctx));
}

void RegisterWidgets() {
  RegisterConfigSection<WidgetConfig>("widget", ParseWidget);
  RegisterDeviceFactory(90, MakeWidget, {"widget"});
  RegisterDeviceFactory(91, MakeWidget, {"widget", "policies"});
  RegisterDeviceFactory(92, MakeWidget);
}

TEST(ConfigSection, ParsesOnceWithTheRegisteredParserAndNamesTheKey) {
  RegisterWidgets();
  EXPECT_TRUE(IsConfigSectionRegistered("widget"));
  EXPECT_TRUE(IsConfigSectionRegistered("policies"));  // shared, registered by devices/config_section.cc
  EXPECT_FALSE(IsConfigSectionRegistered("gadget"));

  auto w = ParseConfigSection("widget", R"({"size":3})", "");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->type, std::type_index(typeid(WidgetConfig)));
  EXPECT_EQ(static_cast<const WidgetConfig*>(w->value.get())->size, 3);

  EXPECT_EQ(ParseConfigSection("widget", R"({"size":0})", "").status().message(),
            "widget.size: must be a positive integer");
  // A message that does not name the section gets it in front.
  EXPECT_EQ(ParseConfigSection("widget", "[]", "").status().message(), "widget: must be a mapping");
  EXPECT_EQ(ParseConfigSection("gadget", "{}", "").status().code(), StatusCode::kNotFound);

  auto p = ParseConfigSection("policies", R"({"dir":"pol"})", "/etc/dsmil");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(static_cast<const PoliciesConfig*>(p->value.get())->dir, "/etc/dsmil/pol");
  EXPECT_EQ(ParseConfigSection("policies", "{}", "/x").status().message(),
            "policies.dir: must name the directory of the tenant policy files");
}

TEST(ConfigSection, ADeviceGetsExactlyItsDeclaredSections) {
  RegisterWidgets();
  EXPECT_EQ(DeclaredSections(91), (std::vector<std::string>{"widget", "policies"}));
  EXPECT_TRUE(DeclaredSections(92).empty());

  // What the node holds after parsing its config: every present section.
  ConfigSections all;
  ASSERT_TRUE(all.PutJson("widget", R"({"size":7})", "").ok());
  all.Put("other", std::string("not for widgets"));

  DeviceContext ctx(90, "", "node-a");
  ctx.config = all;
  auto dev = CreateDevice(ctx);
  ASSERT_TRUE(dev.ok());
  const DeviceContext& seen = static_cast<WidgetDevice&>(**dev).ctx();
  ASSERT_NE(seen.Section<WidgetConfig>("widget"), nullptr);
  EXPECT_EQ(seen.Section<WidgetConfig>("widget")->size, 7);
  EXPECT_EQ(seen.config.names(), std::vector<std::string>{"widget"});

  // Declared but absent from the config: null.
  ctx.id = 91;
  auto dev91 = CreateDevice(ctx);
  ASSERT_TRUE(dev91.ok());
  const DeviceContext& seen91 = static_cast<WidgetDevice&>(**dev91).ctx();
  EXPECT_TRUE(seen91.config.declared("policies"));
  EXPECT_FALSE(seen91.config.present("policies"));
  EXPECT_EQ(seen91.Section<PoliciesConfig>("policies"), nullptr);

  // Sections handed in typed, as tests do.
  DeviceContext typed(90, "", "node-a");
  typed.config.Put("widget", WidgetConfig{5});
  EXPECT_EQ(typed.Section<WidgetConfig>("widget")->size, 5);
}

TEST(ConfigSectionDeathTest, UndeclaredSectionOrWrongTypeAborts) {
  RegisterWidgets();
  DeviceContext ctx(92, "", "node-a");
  ctx.config.Put("widget", WidgetConfig{1});
  auto dev = CreateDevice(ctx);  // device 92 declared nothing
  ASSERT_TRUE(dev.ok());
  const DeviceContext& seen = static_cast<WidgetDevice&>(**dev).ctx();
  EXPECT_DEATH((void)seen.Section<WidgetConfig>("widget"),
               "device 92 reads config section 'widget' that it did not declare");

  DeviceContext wrong(90, "", "node-a");
  wrong.config.Put("widget", WidgetConfig{1});
  EXPECT_DEATH((void)wrong.Section<PoliciesConfig>("widget"),
               "device 90 reads config section 'widget' as dsmil::devices::PoliciesConfig, but it holds "
               "dsmil::devices::.*WidgetConfig");
  EXPECT_DEATH(wrong.config.Put("widget", std::string("x")), "section 'widget' is registered as");
  EXPECT_DEATH(RegisterDeviceFactory(93, MakeWidget, {"gadget"}),
               "device 93 declares config section 'gadget', which has no registered parser");
}

}  // namespace
}  // namespace dsmil::devices
