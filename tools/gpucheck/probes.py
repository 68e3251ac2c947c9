"""tools/gpu_check's probes: each runs in a fresh process on the GPU node (`tools/gpu_check --probe NAME`) and
prints one JSON line: the CUDA context (per CUDA_MODULE_LOADING), one NCCL communicator's buffers, the cuBLAS
workspace, and the caching allocator's reserved vs allocated over real training steps. Only these import
PyTorch. Untested on a GPU: no GPU has been lent to this project yet."""

import json
import os
import subprocess

def run_text(cmd, timeout=20):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return r.stdout.strip() if r.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def nvml_used_bytes():
    q = run_text(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"])
    return int(q.splitlines()[0]) * 2**20 if q and q.splitlines()[0].strip().isdigit() else None



def probe(name, opts, assumed):
    """One measurement in this (fresh) process; prints one JSON line. Imports torch only here."""
    out = {"probe": name}
    if opts.loading:  # before the first CUDA call of this process
        os.environ["CUDA_MODULE_LOADING"] = opts.loading
    try:
        import torch  # noqa: PLC0415 (only the probes need PyTorch)
        if not torch.cuda.is_available():
            raise RuntimeError("torch.cuda.is_available() is False")
        dev = torch.device("cuda", 0)

        def used():
            free, total = torch.cuda.mem_get_info(0)
            return total - free

        def own_process_bytes():
            q = run_text(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"])
            for line in (q or "").splitlines():
                f = [x.strip() for x in line.split(",")]
                if len(f) == 2 and f[0] == str(os.getpid()) and f[1].isdigit():
                    return int(f[1]) * 2**20
            return None

        if name == "context":
            out["loading"] = os.environ.get("CUDA_MODULE_LOADING", "")
            before = nvml_used_bytes()  # NVML: no CUDA context is created by asking
            torch.cuda.set_device(0)
            torch.cuda.synchronize()  # creates the primary context
            u = used()
            out["used_after_context"] = u
            out["context_bytes_nvml"] = own_process_bytes()
            out["context_bytes"] = out["context_bytes_nvml"] or (u - before if before is not None else None)
            x = torch.ones(1024, device=dev) * 2  # loads the first kernels (lazy loading grows here)
            torch.cuda.synchronize()
            del x
            reserved = torch.cuda.memory_reserved()  # the caching allocator's segment, not context
            nv = own_process_bytes()
            if nv is not None:
                out["after_first_kernel_bytes"] = nv - reserved
            elif before is not None:
                out["after_first_kernel_bytes"] = used() - before - reserved
            out["allocator_reserved"] = reserved
        elif name == "nccl":
            import torch.distributed as dist  # noqa: PLC0415
            ch = int(opts.channels)
            os.environ["NCCL_MIN_NCHANNELS"] = os.environ["NCCL_MAX_NCHANNELS"] = str(ch)
            os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
            os.environ.setdefault("MASTER_PORT", str(29500 + ch))
            torch.cuda.set_device(0)
            torch.cuda.synchronize()
            t = torch.ones(1 << 20, device=dev)
            torch.cuda.synchronize()
            before = used()
            try:
                dist.init_process_group("nccl", rank=0, world_size=1, device_id=dev)
            except TypeError:  # PyTorch < 2.3 has no device_id
                dist.init_process_group("nccl", rank=0, world_size=1)
            dist.all_reduce(t)  # NCCL 2.22+ connects lazily: buffers appear at the first collective
            torch.cuda.synchronize()
            after = used()
            out.update(channels=ch, world_size=1, comm_bytes=after - before,
                       predicted_bytes=ch * 2 * int(os.environ.get("NCCL_BUFFSIZE", assumed["nccl_buffsize"])),
                       note="one GPU: a 1-rank communicator has no peers, so no ring connections and no "
                            "channels x 2 x NCCL_BUFFSIZE buffers; this is the fixed per-communicator overhead",
                       nccl=".".join(map(str, torch.cuda.nccl.version())))
            dist.destroy_process_group()
        elif name == "cublas":
            torch.cuda.set_device(0)
            a = torch.randn(1024, 1024, device=dev, dtype=torch.bfloat16)
            b = torch.randn(1024, 1024, device=dev, dtype=torch.bfloat16)
            torch.cuda.synchronize()
            alloc0, res0, used0 = torch.cuda.memory_allocated(), torch.cuda.memory_reserved(), used()
            c = a @ b
            torch.cuda.synchronize()
            out_bytes = c.numel() * c.element_size()
            out["workspace_allocated_bytes"] = torch.cuda.memory_allocated() - alloc0 - out_bytes
            out["reserved_delta"] = torch.cuda.memory_reserved() - res0
            out["workspace_device_bytes"] = used() - used0
            out["cublas_workspace_config"] = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
            out["capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
        elif name == "allocator":
            torch.cuda.set_device(0)
            model_name = "torch.nn.TransformerEncoder (transformers not importable)"
            try:
                import transformers  # noqa: PLC0415
                cfg = transformers.GPT2Config(n_layer=6, n_embd=768, n_head=12, vocab_size=32000, n_positions=1024)
                model = transformers.GPT2LMHeadModel(cfg).to(dev)
                model_name = "transformers GPT2LMHeadModel, 6 layers, hidden 768, vocab 32000 (random init)"

                def loss_of(ids):
                    return model(input_ids=ids, labels=ids).loss
            except Exception:  # noqa: BLE001
                layer = torch.nn.TransformerEncoderLayer(768, 12, batch_first=True)
                model = torch.nn.Sequential(torch.nn.Embedding(32000, 768), torch.nn.TransformerEncoder(layer, 6),
                                            torch.nn.Linear(768, 32000)).to(dev)

                def loss_of(ids):
                    logits = model(ids)
                    return torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), ids.view(-1))
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
            torch.cuda.reset_peak_memory_stats()
            steps = []
            for _ in range(3):
                ids = torch.randint(0, 32000, (4, 1024), device=dev)
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    loss = loss_of(ids)
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                torch.cuda.synchronize()
                steps.append({"allocated": torch.cuda.memory_allocated(), "reserved": torch.cuda.memory_reserved()})
            st = torch.cuda.memory_stats()
            pa, pr = st["allocated_bytes.all.peak"], st["reserved_bytes.all.peak"]
            out.update(model=model_name, batch="4 x 1024 tokens, bf16 autocast, AdamW", steps=steps,
                       peak_allocated=pa, peak_reserved=pr,
                       reserved_over_allocated=round((pr - pa) / pa, 4) if pa else None,
                       num_alloc_retries=st.get("num_alloc_retries"), segments=st.get("segment.all.current"))
        else:
            raise ValueError(f"unknown probe {name}")
    except Exception as e:  # noqa: BLE001 (the part reports it as its failure)
        out["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(out), flush=True)
    return 0 if "error" not in out else 1


# ----------------------------------------------------------------------------------------------- results
