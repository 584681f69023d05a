"""A minimal CRI client (the part of crictl the e2e tests need), for Debian has no cri-tools.

Usage: cri.py --sock PATH --gen DIR VERB ARGS...
  version                      RuntimeService.Version
  runp [--runtime-handler H] POD.json   RunPodSandbox; prints the pod id
  create POD_ID CTR.json POD.json   CreateContainer; prints the container id
  start ID | stop ID | rm ID   StartContainer / StopContainer / RemoveContainer
  stopp ID | rmp ID            StopPodSandbox / RemovePodSandbox
  exec ID CMD...               ExecSync; prints stdout, exits with the command's status
  ps POD_ID                    ListContainers of a pod: "id name state" lines
  inspect ID                   ContainerStatus(verbose) as JSON

DIR holds api_pb2.py / api_pb2_grpc.py generated from k8s.io/cri-api's api.proto (Debian
package golang-k8s-cri-api-dev). Configs are CRI messages in protobuf's JSON mapping.
Errors print one line (the gRPC status) and exit 1.
"""

import json
import sys


def main(argv):
    if len(argv) < 5 or argv[0] != "--sock" or argv[2] != "--gen":
        print(__doc__, file=sys.stderr)
        return 2
    sock, gen, verb, args = argv[1], argv[3], argv[4], argv[5:]
    sys.path.insert(0, gen)
    import grpc  # noqa: E402
    from google.protobuf import json_format  # noqa: E402
    import api_pb2 as pb  # noqa: E402
    import api_pb2_grpc as pbg  # noqa: E402

    chan = grpc.insecure_channel("unix://" + sock)
    rt = pbg.RuntimeServiceStub(chan)

    def load(path, msg):
        with open(path) as f:
            return json_format.ParseDict(json.load(f), msg())

    try:
        if verb == "version":
            r = rt.Version(pb.VersionRequest(), timeout=30)
            print(r.runtime_name, r.runtime_version, r.runtime_api_version)
        elif verb == "runp":
            handler = ""
            if args[0] == "--runtime-handler":
                handler, args = args[1], args[2:]
            req = pb.RunPodSandboxRequest(config=load(args[0], pb.PodSandboxConfig), runtime_handler=handler)
            r = rt.RunPodSandbox(req, timeout=120)
            print(r.pod_sandbox_id)
        elif verb == "create":
            r = rt.CreateContainer(
                pb.CreateContainerRequest(
                    pod_sandbox_id=args[0],
                    config=load(args[1], pb.ContainerConfig),
                    sandbox_config=load(args[2], pb.PodSandboxConfig),
                ),
                timeout=120,
            )
            print(r.container_id)
        elif verb == "start":
            rt.StartContainer(pb.StartContainerRequest(container_id=args[0]), timeout=120)
        elif verb == "stop":
            rt.StopContainer(pb.StopContainerRequest(container_id=args[0], timeout=5), timeout=120)
        elif verb == "rm":
            rt.RemoveContainer(pb.RemoveContainerRequest(container_id=args[0]), timeout=120)
        elif verb == "stopp":
            rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=args[0]), timeout=120)
        elif verb == "rmp":
            rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=args[0]), timeout=120)
        elif verb == "exec":
            r = rt.ExecSync(pb.ExecSyncRequest(container_id=args[0], cmd=args[1:], timeout=30), timeout=60)
            sys.stdout.write(r.stdout.decode(errors="replace"))
            sys.stderr.write(r.stderr.decode(errors="replace"))
            return r.exit_code
        elif verb == "ps":
            f = pb.ContainerFilter(pod_sandbox_id=args[0])
            for c in rt.ListContainers(pb.ListContainersRequest(filter=f), timeout=30).containers:
                print(c.id, c.metadata.name, pb.ContainerState.Name(c.state))
        elif verb == "inspect":
            r = rt.ContainerStatus(pb.ContainerStatusRequest(container_id=args[0], verbose=True), timeout=30)
            print(json.dumps({"status": json_format.MessageToDict(r.status), "info": dict(r.info)}))
        else:
            print("cri.py: unknown verb " + verb, file=sys.stderr)
            return 2
    except grpc.RpcError as e:
        print("cri %s: %s: %s" % (verb, e.code().name, e.details()), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
