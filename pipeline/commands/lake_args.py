"""The ``--lake`` flag and the S3 options that go with it, shared by detect, report and athena."""

from __future__ import annotations

import argparse

from ..lake.storage import LakeLocation, lake_location


def add_lake_arguments(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    parser.add_argument("--lake", required=required, help="lake folder or s3://bucket/prefix/ (from 'flowsleuth ingest')")
    parser.add_argument("--profile", help="AWS profile for an S3 lake (default: the standard credential chain)")
    parser.add_argument("--region", help="AWS region for an S3 lake")
    parser.add_argument("--endpoint-url", help="S3-compatible endpoint for an S3 lake (also AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)")


def location(args: argparse.Namespace) -> LakeLocation:
    """The lake the flags name, with its S3 options."""
    return lake_location(args.lake, profile=args.profile, region=args.region, endpoint_url=args.endpoint_url)
