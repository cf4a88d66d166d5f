import SinterIR

extension HeaderWriter {
    /// `NAME_explain` (`--explain`).
    static func explainDeclarations(_ e: KernelProgram, _ p: String) -> String {
        let x = e.inputs[0], scores = e.outputs[0]
        return """


            /* ---- Explanations ------------------------------------------------------------------
               attributions (\(x.type), like input 0 "\(x.name)") = the gradient of each sample's
               score for its class (output "\(scores.name)" \(scores.type)) with respect to that input.
               targets: one class per sample (int64), or NULL for each sample's highest score (one
               more forward run). Returns SINTER_ERR_INVALID_ARGUMENT for a class out of range.
               Integrated gradients: average it over inputs scaled by (k + 0.5)/steps, times the input.
               Uses the same workspace as run (workspace_size() covers both). */
            int32_t \(p)_explain(\(p)_context *ctx, const void *const *inputs, const int64_t *targets,
                                 float *attributions, void *workspace);
            """
    }

    /// The `NAME_train_*` declarations of a `--train` artifact (docs/abi.md, "Training").
    static func trainingDeclarations(_ t: TrainingProgram, _ p: String) -> String {
        func list(_ specs: [KernelProgram.TensorSpec], _ kind: String) -> String {
            specs.enumerated().map { i, s in "   \(kind) \(i): \"\(s.name)\" \(s.type)" }.joined(separator: "\n")
        }
        let all = t.slots + t.states
        let slots = all.isEmpty ? "   (the optimizer keeps no slots)" : list(all, "slot ")
        return """


            /* ---- Training ----------------------------------------------------------------------
               A training context owns the parameters and the optimizer's slots (starting from the
               model's weights and zeros) and runs one optimizer step per call. It is used by one
               thread at a time; train_predict may run concurrently with distinct workspaces.
            \(list(t.parameters, "param"))
            \(slots)
               labels: "\(t.labels.name)" \(t.labels.type)
               Starting learning rate \(t.learningRate); train_set_lr changes it between steps. */
            typedef struct \(p)_train_context \(p)_train_context;

            int32_t \(p)_train_num_params(void);
            const sinter_tensor_info *\(p)_train_param_info(int32_t index);  /* NULL if out of range */
            int32_t \(p)_train_num_slots(void);
            const sinter_tensor_info *\(p)_train_slot_info(int32_t index);   /* NULL if out of range */
            const sinter_tensor_info *\(p)_train_label_info(int32_t index);  /* index 0: the labels */

            /* Bytes of scratch one train call needs (pass NULL to use the context's own). */
            int64_t \(p)_train_workspace_size(void);

            /* A context of its own (malloc'd; num_threads as for create), or a caller-owned block
               of train_state_size() bytes aligned to 64 turned into one by train_init (one thread,
               no workspace of its own: pass one to each call; train_destroy does nothing to it). */
            int32_t \(p)_train_create(\(p)_train_context **out, int32_t num_threads);
            void \(p)_train_destroy(\(p)_train_context *ctx);
            int64_t \(p)_train_state_size(void);
            int32_t \(p)_train_init(void *state);

            /* One step: the loss on a batch (stored in *loss unless NULL), gradients, the update.
               inputs: the model's inputs as for run; labels: one tensor as train_label_info(0). */
            int32_t \(p)_train_step(\(p)_train_context *ctx, const void *const *inputs, const void *labels,
                                    float *loss, void *workspace);

            /* The step in two halves, for callers that combine gradients (e.g. an allreduce):
               train_grads computes them into the context, train_gradient(ctx, i) points at
               parameter i's (writable; all of them lie in one block of train_gradients_size()
               bytes from train_gradient(ctx, 0), zero between them), train_apply updates. */
            int32_t \(p)_train_grads(\(p)_train_context *ctx, const void *const *inputs, const void *labels,
                                     float *loss, void *workspace);
            void *\(p)_train_gradient(\(p)_train_context *ctx, int32_t index);
            int64_t \(p)_train_gradients_size(void);
            int32_t \(p)_train_apply(\(p)_train_context *ctx, void *workspace);

            /* The model's outputs with the context's current parameters. */
            int32_t \(p)_train_predict(\(p)_train_context *ctx, const void *const *inputs,
                                       void *const *outputs, void *workspace);

            /* The learning rate (finite, >= 0) and the number of updates applied so far. */
            int32_t \(p)_train_set_lr(\(p)_train_context *ctx, float lr);
            float \(p)_train_lr(const \(p)_train_context *ctx);
            int64_t \(p)_train_steps(const \(p)_train_context *ctx);
            int32_t \(p)_train_set_steps(\(p)_train_context *ctx, int64_t steps);

            /* Copies of parameter or slot `index` (as its info record describes it). */
            int32_t \(p)_train_get_param(const \(p)_train_context *ctx, int32_t index, void *data);
            int32_t \(p)_train_set_param(\(p)_train_context *ctx, int32_t index, const void *data);
            int32_t \(p)_train_get_slot(const \(p)_train_context *ctx, int32_t index, void *data);
            int32_t \(p)_train_set_slot(\(p)_train_context *ctx, int32_t index, const void *data);

            /* Checkpoints of parameters, slots, steps and lr. save writes PATH.tmp, fsyncs it and
               renames it over PATH (SINTER_ERR_CHECKPOINT_IO on failure; PATH is untouched). load
               returns SINTER_ERR_CHECKPOINT_IO when the file cannot be read in full and
               SINTER_ERR_CHECKPOINT_MISMATCH when it belongs to another model or optimizer or its
               bytes do not match their hash; on failure the context is unchanged. */
            int32_t \(p)_train_save(const \(p)_train_context *ctx, const char *path);
            int32_t \(p)_train_load(\(p)_train_context *ctx, const char *path);
            """
    }
}
