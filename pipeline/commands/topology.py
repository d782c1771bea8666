"""`flowsleuth topology`: build the network map from EC2 APIs, the logs, and files, merged."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from ..errors import UsageError
from ..topology.model import Topology

HELP = "snapshot the network map (subnets, AZs, interface kinds, routes, NACLs) from EC2, logs or files"
EXAMPLE = (
    "flowsleuth topology --region us-east-1 --vpc-id vpc-0abc --out topology.json --snapshots topo-snapshots/\n"
    "  flowsleuth topology --lake lake/ --out topology.json      (infer from the logs only)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    api = parser.add_argument_group("from the EC2 API (read-only Describe* calls; see docs/topology.md)")
    api.add_argument("--region", help="AWS region to describe, e.g. us-east-1")
    api.add_argument("--profile", help="AWS profile name (default: the environment's credentials)")
    api.add_argument("--endpoint-url", help="EC2 endpoint URL (for a local test server)")
    api.add_argument("--vpc-id", action="append", default=[], metavar="ID", help="limit to this VPC (repeatable)")
    parser.add_argument("--lake", type=Path, help="also infer from this lake's logs, and write the result into <lake>/_topology/")
    parser.add_argument("--topology", action="append", default=[], type=Path, metavar="FILE", help="merge this topology.json (repeatable)")
    parser.add_argument("--snapshots", type=Path, metavar="DIR", help="keep a timestamped copy of the API snapshot here, and merge the older ones")
    parser.add_argument("--out", type=Path, default=Path("topology.json"), help="merged topology JSON to write (default: topology.json)")


def _summary(topo: Topology) -> str:
    kinds = Counter(i.kind for i in topo.interfaces)
    by_kind = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    return (
        f"{len(topo.subnets)} subnets, {len(topo.interfaces)} interfaces ({by_kind or 'none'}), "
        f"{len(topo.route_tables)} route tables, {len(topo.nacls)} NACLs, {len(topo.endpoints)} endpoints, "
        f"{len(topo.load_balancers)} load balancers; taken {topo.taken_at or 'unknown'} (source {topo.source})"
    )


def run(args: argparse.Namespace) -> int:
    from ..topology.merge import merge
    from ..topology.snapshots import load_snapshots, save_snapshot, snapshot_paths, write_atomic

    if not (args.region or args.lake or args.topology or args.snapshots):
        raise UsageError("nothing to build the topology from: give --region (EC2 API), --lake (logs), --topology FILE or --snapshots DIR")
    if (args.profile or args.endpoint_url or args.vpc_id) and not args.region:
        raise UsageError("--profile, --endpoint-url and --vpc-id need --region")
    parts: list[Topology] = []
    # Older snapshots: a missing DIR is fine when this run creates it (--region), else an error.
    if args.snapshots and (args.snapshots.is_dir() or not args.region) and snapshot_paths(args.snapshots):
        parts.append(load_snapshots(args.snapshots))
    if args.region:
        from ..topology.aws import read_from_aws

        snap = read_from_aws(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url, vpc_ids=args.vpc_id)
        if args.snapshots:
            print(f"snapshot kept: {save_snapshot(snap, args.snapshots)}")
        parts.append(snap)
    parts.extend(Topology.load(p) for p in args.topology)
    if args.lake:
        from ..db import open_lake
        from ..topology.infer import infer_from_lake

        con = open_lake(args.lake)
        try:
            parts.append(infer_from_lake(con))
        finally:
            con.close()
    topo = merge(*parts)
    write_atomic(topo, args.out)
    print(f"{args.out}: {_summary(topo)}")
    if args.lake:
        from ..topology.views import write_topology_to_lake

        print(f"lake copy: {write_topology_to_lake(topo, args.lake)}")
    return 0
