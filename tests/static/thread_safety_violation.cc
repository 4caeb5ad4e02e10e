// A compile-only check that the lock discipline is enforced (see
// CMakeLists.txt here): built with -Wthread-safety -Werror this file must be
// refused, because Box reads and waits on a DSMIL_GUARDED_BY member without
// holding its mutex; built with -DDSMIL_HOLD_LOCKS (the same code with the
// locks held) it must compile.
#include "core/mutex.h"

namespace {

class Box {
 public:
  void Set(int v) {
    {
      dsmil::MutexLock lock(mu_);
      value_ = v;
    }
    cv_.NotifyAll();
  }

  int Get() {
#ifdef DSMIL_HOLD_LOCKS
    dsmil::MutexLock lock(mu_);
#endif
    return value_;  // without the lock: "reading variable 'value_' requires holding mutex 'mu_'"
  }

  void AwaitNonZero() {
#ifdef DSMIL_HOLD_LOCKS
    dsmil::MutexLock lock(mu_);
#endif
    while (value_ == 0) cv_.Wait(mu_);  // without the lock: Wait requires holding 'mu_'
  }

 private:
  dsmil::Mutex mu_;
  dsmil::CondVar cv_;
  int value_ DSMIL_GUARDED_BY(mu_) = 0;
};

}  // namespace

int main() {
  Box box;
  box.Set(1);
  box.AwaitNonZero();
  return box.Get() == 1 ? 0 : 1;
}
