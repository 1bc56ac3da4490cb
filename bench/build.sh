#!/usr/bin/env bash
# Builds what the benchmarks run, in Release: the generator, the Lifeline and SignalR servers, and the ws server's
# npm dependencies (ws 8.23.0, pinned in bench/servers/ws/package-lock.json).
set -euo pipefail
cd "$(dirname "$0")"
dotnet build Lifeline.Bench/Lifeline.Bench.csproj -c Release -nologo -v q
dotnet build servers/LifelineServer/LifelineServer.csproj -c Release -nologo -v q
dotnet build servers/SignalRServer/SignalRServer.csproj -c Release -nologo -v q
(cd servers/ws && npm ci --no-audit --no-fund --silent)
