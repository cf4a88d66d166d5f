// A C++ app using a Sinter-compiled model through its C header, with RAII around the context.
// Build (see README): sinter compile Examples/mlp/mlp.sir --emit shared,header -o build
//   c++ -std=c++17 -Ibuild Examples/cpp/main.cpp -Lbuild -lmlp -Wl,-rpath,build -o mlp_cpp
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <vector>

#include "mlp.h"

namespace {

struct Model {
    std::unique_ptr<mlp_context, void (*)(mlp_context*)> ctx{nullptr, mlp_destroy};

    Model() {
        mlp_context* raw = nullptr;
        check(mlp_create(&raw, 1));
        ctx.reset(raw);
    }

    static void check(int32_t status) {
        if (status != SINTER_OK) throw std::runtime_error(mlp_status_string(status));
    }

    static size_t count(const sinter_tensor_info* t) {
        size_t n = 1;
        for (int i = 0; i < t->rank; ++i) n *= static_cast<size_t>(t->shape[i]);
        return n;
    }

    std::vector<float> run(const std::vector<float>& x) const {
        if (x.size() != count(mlp_input_info(0))) throw std::invalid_argument("wrong input size");
        std::vector<float> y(count(mlp_output_info(0)));
        const void* in[] = {x.data()};
        void* out[] = {y.data()};
        check(mlp_run(ctx.get(), in, out, nullptr));
        return y;
    }
};

}  // namespace

int main() {
    try {
        Model model;
        std::vector<float> x(256);
        for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) / 8.0f - 1.0f;
        const auto y = model.run(x);
        const auto* info = mlp_output_info(0);
        const size_t cols = static_cast<size_t>(info->shape[info->rank - 1]);
        for (size_t i = 0; i < y.size(); ++i) std::printf("%.9g%s", y[i], (i + 1) % cols ? " " : "\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
