#!/usr/bin/env python3
"""Writes docs/openapi.json, the OpenAPI 3.1 description of the router's HTTP API.

Run: python3 scripts/gen_openapi.py > docs/openapi.json
A test (router: openapi_covers_every_route) fails when a route of the router
is missing here, or when a path here is not served.
"""
import json

def ref(n): return {"$ref": f"#/components/schemas/{n}"}
def body(n): return {"required": True, "content": {"application/json": {"schema": ref(n)}}}
def ok(desc, schema=None, code="200"):
    r = {"description": desc}
    if schema is not None:
        r["content"] = {"application/json": {"schema": schema}}
    return {code: r}
ERR = {"content": {"application/json": {"schema": ref("Error")}}}
def err(*codes):
    text = {"400": "Malformed request: `field` names the bad field.", "401": "Missing or wrong bearer token.",
            "404": "Unknown object.", "409": "Conflict: exists, in use, or cannot change at runtime."}
    return {c: {"description": text[c], **ERR} for c in codes}
def q(name, desc, schema=None, required=False):
    return {"name": name, "in": "query", "required": required, "description": desc, "schema": schema or {"type": "string"}}
def p(name, desc):
    return {"name": name, "in": "path", "required": True, "description": desc, "schema": {"type": "string"}}
GEN = {"type": "object", "properties": {"ok": {"type": "boolean"}, "fib_generation": {"type": "integer"}}}

nexthop_member = {"type": "object", "required": ["via", "port"], "properties": {
    "via": {"type": "string", "description": "Gateway address, on a subnet of `port`."},
    "port": {"type": "string", "description": "Port name from the config."},
    "weight": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 1}}}
hash_cfg = {"type": "object", "properties": {
    "policy": {"type": "string", "enum": ["l3", "l4", "l3-inner", "l4-inner", "fields", "flowlabel", "per-packet"]},
    "fields": {"type": "array", "items": {"type": "string"}}, "seed": {"type": "integer"}}}
group_params = {
    "group": {"type": "string", "enum": ["hash-threshold", "modulo", "resilient"], "default": "hash-threshold"},
    "buckets": {"type": "integer", "description": "Resilient: bucket count."},
    "idle-timer": {"type": "integer", "description": "Resilient: seconds a bucket must be idle to move."},
    "unbalanced-timer": {"type": "integer", "description": "Resilient: seconds before busy buckets move (0 = never)."}}

schemas = {
    "Error": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string", "description": "A sentence a person can act on."},
        "field": {"type": "string", "description": "The bad field, such as `nexthops[1].port`."}}},
    "NexthopMember": nexthop_member,
    "Hash": hash_cfg,
    "RouteInput": {"type": "object", "required": ["prefix"], "description":
        "One `routes[]` entry of the config: `nexthops` (with optional group parameters), `nexthop-group`, or a `type` that has no nexthops.",
        "properties": {"prefix": {"type": "string"}, "table": {"oneOf": [{"type": "integer"}, {"type": "string", "description": "main, or a name from the config's tables"}], "default": 254},
                       "nexthops": {"type": "array", "items": ref("NexthopMember")},
                       "nexthop-group": {"type": "string"}, "hash": ref("Hash"),
                       "type": {"type": "string", "enum": ["unicast", "blackhole", "unreachable", "prohibit"], "default": "unicast",
                                "description": "blackhole drops silently; unreachable and prohibit send the ICMP errors a kernel sends."},
                       "sticky": {"type": "boolean", "default": False, "description": "Keep each flow on the nexthop its first packet got (the workers' flow tables)."},
                       **group_params}},
    "Route": {"allOf": [ref("RouteInput"), {"type": "object", "properties": {
        "origin": {"type": "string", "enum": ["api", "config", "fpm"], "description": "Who gave the route to the router."},
        "protocol": {"type": "string", "description": "rtm_protocol as iproute2 names it (bgp, ospf, static, kernel, ...; a number when it has no name). Config and API routes are static."},
        "metric": {"type": "integer", "description": "RTA_PRIORITY from FPM, or the route's metric key."},
        "active": {"type": "boolean", "description": "This origin's entry is the one in use (api > config > fpm)."}}}]},
    "NotInstalled": {"type": "object", "properties": {
        "table": {"type": "integer"}, "prefix": {"type": "string"},
        "reason": {"type": "string", "enum": ["no_port_for_gateway", "ipv6_nexthop_onlink", "route_type"]},
        "rtm_type": {"type": "integer", "description": "With reason route_type."}}},
    "GroupInput": {"type": "object", "required": ["name", "nexthops"], "description": "One `nexthop-groups[]` entry of the config.",
        "properties": {"name": {"type": "string"}, "nexthops": {"type": "array", "items": ref("NexthopMember")}, **group_params}},
    "Group": {"type": "object", "properties": {
        "name": {"type": "string"},
        "kind": {"type": "string", "enum": ["named", "shared", "route"]},
        "origin": {"type": ["string", "null"], "enum": ["api", "config", "fpm", None]},
        "algorithm": {"type": "string"},
        "members": {"type": "array", "items": {"allOf": [ref("NexthopMember"), {"type": "object", "properties": {"live": {"type": "boolean"}}}]}},
        "live": {"type": "integer"}, "routes": {"type": "integer"}, "fib_generation": {"type": "integer"}}},
    "Nexthop": {"type": "object", "properties": {
        "address": {"type": "string"}, "port": {"type": "string"},
        "kind": {"type": "string", "enum": ["gateway", "host"]},
        "mac": {"type": ["string", "null"]}, "live": {"type": "boolean"}, "enabled": {"type": "boolean"},
        "link_down": {"type": "boolean"}, "unreachable": {"type": "boolean"}, "uplink_down": {"type": "boolean"},
        "state": {"type": "string", "enum": ["permanent", "incomplete", "failed", "reachable"]},
        "permanent": {"type": "boolean"}, "last_seen_ms": {"type": ["integer", "null"]},
        "probes_unanswered": {"type": "integer"}}},
    "Port": {"type": "object", "properties": {k: {"type": t} for k, t in [
        ("name", "string"), ("device", "string"), ("mac", "string"), ("mtu", "integer"), ("monitor_link", "string"), ("monitor_link_effective", "boolean"),
        ("link_up", "boolean"), ("rx_packets", "integer"), ("rx_bytes", "integer"), ("tx_packets", "integer"),
        ("tx_bytes", "integer"), ("rx_missed", "integer"), ("rx_errors", "integer"), ("rx_nombuf", "integer"),
        ("tx_errors", "integer")]} | {"addresses": {"type": "array", "items": {"type": "string"}}}},
    "Flow": {"type": "object", "properties": {
        "worker": {"type": "integer"}, "proto": {"type": "integer"},
        "a": {"type": "object", "properties": {"addr": {"type": "string"}, "port": {"type": "integer"}}},
        "b": {"type": "object", "properties": {"addr": {"type": "string"}, "port": {"type": "integer"}}},
        "nexthop": {"type": ["object", "null"], "properties": {"via": {"type": "string"}, "port": {"type": "string"}}},
        "tcp_state": {"type": "string", "enum": ["-", "opening", "established", "half-closed", "closing"]},
        "packets": {"type": "integer"}, "idle_ms": {"type": "integer"}, "expires_in_ms": {"type": "integer"}}},
    "Uplink": {"type": "object", "properties": {
        "name": {"type": "string"}, "port": {"type": "string"}, "gateway": {"type": "string"},
        "state": {"type": "string", "enum": ["up", "down"]}, "since_ms": {"type": "integer"},
        "loss_pct": {"type": "integer"}, "rounds": {"type": "integer"}, "transitions": {"type": "integer"},
        "targets": {"type": "array", "items": {"type": "object", "properties": {
            "addr": {"type": "string"}, "sent": {"type": "integer"}, "answered": {"type": "integer"},
            "last_rtt_us": {"type": ["integer", "null"]}}}}}},
    "RouteGet": {"type": "object", "properties": {
        "prefix": {"type": ["string", "null"]}, "origin": {"type": ["string", "null"]},
        "kind": {"type": "string", "enum": ["group", "connected", "local", "blackhole", "none"]},
        "hash": {"type": ["integer", "null"]},
        "nexthop": {"type": ["object", "null"], "properties": {"via": {"type": "string"}, "port": {"type": "string"}}}}},
}

def arr(n): return {"type": "array", "items": ref(n)}
paths = {
    "/metrics": {"get": {"summary": "Prometheus metrics (text format; see docs/metrics.md). Never needs the token.",
                         "security": [], "responses": {"200": {"description": "Text exposition format.",
                         "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/api/v1/routes": {
        "get": {"summary": "Routes of every table and origin, in (table, prefix) order.",
                "parameters": [q("table", "Only this table.", {"type": "integer"}), q("prefix", "Only routes inside this prefix."),
                               q("origin", "Only this origin.", {"type": "string", "enum": ["api", "config", "fpm"]}),
                               q("limit", "At most this many prefixes (default 1000, at most 10000).", {"type": "integer"}),
                               q("after", "The cursor from the previous page's X-Next-Cursor header (TABLE:PREFIX).")],
                "responses": {**ok("The page; header X-Next-Cursor gives after= for the next one, when there is one.", arr("Route")), **err("400", "401")}},
        "post": {"summary": "Add a route (origin api).", "requestBody": body("RouteInput"),
                 "responses": {**ok("Added and in the dataplane.", GEN, "201"), **err("400", "401", "409")}},
        "put": {"summary": "Add or replace the API's route for the prefix.", "requestBody": body("RouteInput"),
                "responses": {**ok("Applied.", GEN), **err("400", "401")}},
        "delete": {"summary": "Delete the API's route.", "parameters": [q("prefix", "The prefix.", required=True), q("table", "Table (254).", {"type": "integer"})],
                   "responses": {**ok("Deleted.", GEN), **err("400", "401", "404")}}},
    "/api/v1/neighbors/flush": {"post": {"summary": "Remove the learned hosts (all, or those of port dev), like ip neigh flush. Nexthops and permanent entries stay.",
        "parameters": [q("dev", "Only this port.")],
        "responses": {**ok("How many were removed.", {"type": "object", "properties": {"flushed": {"type": "integer"}}}), **err("400", "401")}}},
    "/api/v1/fpm/not-installed": {"get": {"summary": "FPM routes the session holds but the router does not install, with the reason.",
        "responses": {**ok("Every such route.", arr("NotInstalled")), **err("401")}}},
    "/api/v1/route/get": {"get": {"summary": "Which route, group and nexthop a flow takes, computed as a worker would.",
        "parameters": [q("dst", "Destination.", required=True), q("src", "Source (default: unspecified)."),
                       q("proto", "tcp, udp, sctp, icmp or a number."), q("sport", "Source port.", {"type": "integer"}),
                       q("dport", "Destination port.", {"type": "integer"})],
        "responses": {**ok("The answer.", ref("RouteGet")), **err("400", "401")}}},
    "/api/v1/groups": {
        "get": {"summary": "Every nexthop group: named (config or API), shared (routes with the same members) and per route (resilient).",
                "responses": {**ok("Groups.", arr("Group")), **err("401")}},
        "post": {"summary": "Add a named group.", "requestBody": body("GroupInput"),
                 "responses": {**ok("Added.", ref("Group"), "201"), **err("400", "401", "409")}},
        "put": {"summary": "Add or replace a named group; routes using it follow at once.", "requestBody": body("GroupInput"),
                "responses": {**ok("Replaced.", ref("Group")), **ok("Added.", ref("Group"), "201"), **err("400", "401", "409")}}},
    "/api/v1/groups/{name}": {"delete": {"summary": "Delete a named group defined through the API (refused while routes use it).",
        "parameters": [p("name", "Group name.")], "responses": {**ok("Deleted.", GEN), **err("401", "404", "409")}}},
    "/api/v1/nexthops": {"get": {"summary": "Every nexthop (gateways and hosts) with its state.",
        "responses": {**ok("Nexthops.", arr("Nexthop")), **err("401")}},
        "post": {"summary": "Create a nexthop (resolved and probed like a gateway, kept with no group using it).",
                 "requestBody": body("NexthopMember"),
                 "responses": {**ok("Created.", ref("Nexthop"), "201"), **err("400", "401", "409")}}},
    "/api/v1/nexthops/{port}/{address}": {"delete": {"summary": "Delete a nexthop that no group uses (a learned host: flush it).",
        "parameters": [p("port", "Port name."), p("address", "Nexthop address.")],
        "responses": {**ok("Deleted.", GEN), **err("400", "401", "404", "409")}}},
    "/api/v1/nexthops/{port}/{address}/{action}": {"post": {"summary": "Enable or disable a nexthop in every group (one atomic store).",
        "parameters": [p("port", "Port name."), p("address", "Nexthop address."),
                       {**p("action", "enable or disable"), "schema": {"type": "string", "enum": ["enable", "disable"]}}],
        "responses": {**ok("The nexthop.", ref("Nexthop")), **err("400", "401", "404")}}},
    "/api/v1/neighbors": {"get": {"summary": "Every neighbour with its resolution state.",
        "parameters": [q("port", "Only this port.")], "responses": {**ok("Neighbours.", arr("Nexthop")), **err("401", "404")}}},
    "/api/v1/flows": {"get": {"summary": "Flows of every worker's flow table (sticky routes), endpoints in canonical order.",
        "parameters": [q("addr", "Either endpoint's address."), q("port", "Either endpoint's port.", {"type": "integer"}),
                       q("proto", "tcp, udp, icmp or a number."), q("worker", "Only this worker.", {"type": "integer"}),
                       q("offset", "Skip this many.", {"type": "integer"}), q("limit", "At most this many (default 1000).", {"type": "integer"})],
        "responses": {**ok("The page; X-Total-Count gives the number that matched.", arr("Flow")), **err("400", "401")}}},
    "/api/v1/uplinks": {"get": {"summary": "Every uplink with its health-probe state.",
        "responses": {**ok("Uplinks.", arr("Uplink")), **err("401")}}},
    "/api/v1/ports": {"get": {"summary": "Every port: config, link state, counters.",
        "responses": {**ok("Ports.", arr("Port")), **err("401")}}},
    "/api/v1/reload": {"post": {"summary": "Re-read and apply the config file (as SIGHUP). A bad file changes nothing.",
        "responses": {**ok("Applied.", GEN), **err("400", "401", "409")}}},
}
doc = {"openapi": "3.1.0",
       "info": {"title": "ecmp-router API", "version": "1",
                "description": "See docs/api.md. Errors are JSON {error, field}. A failed request changes nothing."},
       "servers": [{"url": "http://127.0.0.1:9464"}],
       "security": [{"bearer": []}],
       "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                      "description": "Required on /api/v1/ only when api.token is configured."}}},
       "paths": paths}
print(json.dumps(doc, indent=2))
