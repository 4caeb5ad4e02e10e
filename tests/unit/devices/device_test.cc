#include "devices/device.h"

#include <gtest/gtest.h>

namespace dsmil::devices {
namespace {

class EchoDevice final : public Device {
 public:
  explicit EchoDevice(DeviceContext ctx) : ctx_(std::move(ctx)) {}
  int id() const override { return ctx_.id; }
  const std::string& tenant() const override { return ctx_.tenant; }
  Status Start() override { return Status::Ok(); }
  void Stop() override {}
  DeviceHealth Health() const override { return {DeviceState::kHealthy, ""}; }
  Result<dbe::Message> Handle(const dbe::Message& request) override { return request; }

 private:
  DeviceContext ctx_;
};

TEST(Device, UnregisteredDeviceIsReportedNotImplemented) {
  auto dev = CreateDevice({47, "ALPHA", "node-b"});
  ASSERT_TRUE(dev.ok());
  EXPECT_FALSE(IsImplemented(47));
  auto h = (*dev)->Health();
  EXPECT_EQ(h.state, DeviceState::kNotImplemented);
  EXPECT_EQ(DeviceStateName(h.state), "NOT_IMPLEMENTED");
  EXPECT_NE(h.reason.find("47"), std::string::npos);

  dbe::Message req(dbe::MsgType::kL7ChatReq);
  req.SetString(dbe::TlvType::kTenantId, "ALPHA");
  req.header().src_device = 43;
  req.header().dst_device = 47;
  auto reply = (*dev)->Handle(req);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->type(), dbe::MsgType::kError);
  EXPECT_EQ(reply->tenant_id(), "ALPHA");
  auto reason = reply->GetString(dbe::TlvType::kErrorReason);
  ASSERT_TRUE(reason.ok());
  EXPECT_EQ(*reason, "DEVICE_NOT_IMPLEMENTED");
  EXPECT_EQ(reply->header().dst_device, 43);
  EXPECT_TRUE(dbe::Encode(*reply).ok());
}

TEST(Device, RegisteredFactoryIsUsed) {
  RegisterDeviceFactory(99, [](const DeviceContext& ctx) -> Result<std::unique_ptr<Device>> {
    return std::unique_ptr<Device>(new EchoDevice(ctx));
  });
  EXPECT_TRUE(IsImplemented(99));
  auto dev = CreateDevice({99, "", "node-a"});
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ((*dev)->Health().state, DeviceState::kHealthy);
}

TEST(Device, IdOutsideRangeIsRefused) {
  EXPECT_EQ(CreateDevice({104, "", "n"}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateDevice({-1, "", "n"}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dsmil::devices
