import Sinter

/// `sinter train --data-parallel` under `mpirun -n K`: every rank runs the compiled step on
/// its own K-th of each global batch, and the gradients (with the loss and batch norm's new
/// running statistics) are averaged over the ranks between the step's two halves. All ranks
/// shuffle with the same seed, so they agree on the batches without talking; rank 0 alone
/// prints, writes checkpoints and writes the trained model.
struct Workers {
    let mpi: MPI?
    /// Tests: skip the all-reduce, so each rank trains on its shard alone.
    let alone: Bool

    var rank: Int { mpi?.rank ?? 0 }
    var size: Int { mpi?.size ?? 1 }

    /// This rank's part of a global batch (whose size `size` divides).
    func shard(_ idx: [Int]) -> [Int] {
        guard size > 1 else { return idx }
        let n = idx.count / size
        return Array(idx[(rank * n)..<((rank + 1) * n)])
    }

    /// The mean over the ranks, in place (MPI_Allreduce, then a division), with one more
    /// value that says whether any rank wants to stop (Ctrl-C reaches the ranks at different
    /// moments): one round trip per step carries both.
    func mean(_ values: inout [Float], stop: Bool) throws(SinterError) -> Bool {
        guard let mpi, !alone else { return stop }
        values.append(stop ? 1 : 0)
        try mpi.sumAll(&values)
        let anyStop = values.removeLast() > 0
        let scale = 1 / Float(size)
        for i in values.indices { values[i] *= scale }
        return anyStop
    }

    func say(_ text: String) { if rank == 0 { print(text) } }
}
