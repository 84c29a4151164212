#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The Grafana dashboard (deploy/grafana/nfsleuth-dashboard.json) against the
# real tools: its structure (unique panel ids, a layout that fits, every
# panel on the datasource variable, every variable used defined and every
# one defined used, every selector filtered by $instance and, for families
# with a netns label, by $netns); every query, its Grafana variables
# replaced, accepted by `promtool check rules` and evaluated without error
# by a real Prometheus scraping a real `nfsleuth watch`, the labels its
# legend names present in its results; and every nfsleuth metric it uses
# exposed by that daemon (a # TYPE line: families render one even without
# series).
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
for tool in jq curl prometheus promtool python3; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
src=$(cd "$(dirname "$0")/../.." && pwd)
dash="$src/deploy/grafana/nfsleuth-dashboard.json"
[[ -f $dash ]] || fail "no dashboard at $dash"

# --- structure ---------------------------------------------------------------------
jq -e . "$dash" >/dev/null 2>"$WORK/jq.err" || { cat "$WORK/jq.err"; fail "the dashboard is not valid JSON"; }
pass "the dashboard is valid JSON"
assert_eq nfsleuth "$(jq -r .uid "$dash")" "uid"
assert_eq "nfsleuth: conntrack and module autoload" "$(jq -r .title "$dash")" "title"
jq -e '.schemaVersion | type == "number" and . >= 36' "$dash" >/dev/null ||
  fail "schemaVersion $(jq .schemaVersion "$dash") is not a Grafana 9+ one"
pass "schemaVersion $(jq .schemaVersion "$dash")"

# Every panel, also those inside collapsed rows.
all_panels='[.panels[], (.panels[] | .panels[]?)]'
ids=$(jq -r "$all_panels | .[].id" "$dash")
[[ -n $ids ]] || fail "the dashboard has no panels"
if grep -qvxE '[0-9]+' <<<"$ids"; then
  fail "panel ids that are not numbers: $(grep -vxE '[0-9]+' <<<"$ids" | tr '\n' ' ')"
fi
dups=$(sort -n <<<"$ids" | uniq -d | tr '\n' ' ')
[[ -z $dups ]] || fail "panel ids used twice: $dups"
pass "$(wc -l <<<"$ids") panels, ids unique"

overlaps=$(jq -r "$all_panels"' | map(select(.gridPos) | {id, g: .gridPos}) as $p
  | ($p[] | select(.g.x < 0 or .g.w < 1 or .g.h < 1 or .g.x + .g.w > 24) | "panel \(.id) outside the 24 columns"),
    ([range(0; $p | length)] | combinations(2) | select(.[0] < .[1]) | [$p[.[0]], $p[.[1]]]
     | select(.[0].g.x < .[1].g.x + .[1].g.w and .[1].g.x < .[0].g.x + .[0].g.w
              and .[0].g.y < .[1].g.y + .[1].g.h and .[1].g.y < .[0].g.y + .[0].g.h)
     | "panels \(.[0].id) and \(.[1].id) overlap")' "$dash")
[[ -z $overlaps ]] || fail "layout: $overlaps"
pass "every panel has its own place in the 24-column grid"

# The datasource is the variable: the dashboard works with whatever the
# Prometheus datasource is called where it is imported.
jq -e '.templating.list[] | select(.name == "datasource") | .type == "datasource" and .query == "prometheus"' \
  "$dash" >/dev/null || fail "no variable datasource of type datasource for Prometheus"
fixed=$(jq -r '(['"$all_panels"'[] | select(.type != "row")]
    | (.[] | select((.datasource.uid // "") | test("^\\$\\{?datasource\\}?$") | not) | "panel \(.id)"),
      (.[] | .id as $id | .targets[]? | select(.datasource != null)
        | select((.datasource.uid // "") | test("^\\$\\{?datasource\\}?$") | not) | "panel \($id) target \(.refId)")),
  (.templating.list[] | select(.type == "query")
    | select((.datasource.uid // "") | test("^\\$\\{?datasource\\}?$") | not) | "variable \(.name)")' "$dash")
[[ -z $fixed ]] || fail "not on the datasource variable: $(tr '\n' ' ' <<<"$fixed")"
pass "every panel, target and query variable uses \${datasource}"

# Variables: those referenced anywhere ($name, ${name}, ${name:format},
# [[name]]; Grafana's own $__ ones aside) are defined, and each one
# defined is used.
jq -r '.templating.list[].name' "$dash" | sort -u >"$WORK/vars.defined"
jq -r '[.. | strings | scan("\\$\\{?([A-Za-z_][A-Za-z0-9_]*)|\\[\\[([A-Za-z_][A-Za-z0-9_]*)") | .[] | values]
  | .[] | select(startswith("__") | not)' "$dash" | sort -u >"$WORK/vars.used"
undefined=$(comm -13 "$WORK/vars.defined" "$WORK/vars.used" | tr '\n' ' ')
[[ -z $undefined ]] || fail "variables used but not defined: $undefined"
unused=$(comm -23 "$WORK/vars.defined" "$WORK/vars.used" | tr '\n' ' ')
[[ -z $unused ]] || fail "variables defined but never used: $unused"
pass "variables defined and used: $(tr '\n' ' ' <<<"$(cat "$WORK/vars.defined")")"
for v in instance netns; do
  grep -qx "$v" "$WORK/vars.defined" || fail "no variable $v"
done
jq -e '.templating.list[] | select(.name == "netns") | .multi and .includeAll' "$dash" >/dev/null ||
  fail "netns is not multi-value with All"
pass "netns is multi-value with All"

# Grafana's variables replaced by what Prometheus accepts.
subst='gsub("\\$\\{?__rate_interval\\}?"; "5m") | gsub("\\$\\{?__interval_ms\\}?"; "60000")
  | gsub("\\$\\{?__interval\\}?"; "1m") | gsub("\\$\\{?__range_ms\\}?"; "3600000")
  | gsub("\\$\\{?__range_s\\}?"; "3600") | gsub("\\$\\{?__range\\}?"; "1h")
  | gsub("\\$\\{[A-Za-z_][A-Za-z0-9_]*(:[A-Za-z]+)?\\}"; ".*") | gsub("\\$[A-Za-z_][A-Za-z0-9_]*"; ".*")
  | gsub("\\[\\[[A-Za-z_][A-Za-z0-9_]*\\]\\]"; ".*")'

# The queries: panel id, refId, expr, expr for Prometheus, and the labels
# the panel names (its legend's {{label}}s; for tables, the label columns
# it orders).
jq -r "$all_panels"' | .[] | select(.type != "row") | . as $p | .targets[]?
  | select((.expr // "") != "")
  | [$p.id, .refId, .expr, (.expr | '"$subst"'),
     ([(.legendFormat // "" | scan("\\{\\{ *([A-Za-z_][A-Za-z0-9_]*) *\\}\\}") | .[0]),
       (if .format == "table" then
          ($p.transformations // [] | .[] | select(.id == "organize") | .options.indexByName // {} | keys[]
           | select(test("^(Value|Time$)") | not))
        else empty end)] | unique | join(","))] | @tsv' "$dash" >"$WORK/targets.tsv"
jq -r '.templating.list[] | select(.type == "query") | .query | if type == "object" then .query else . end' \
  "$dash" >"$WORK/variable_queries"
nexprs=$(wc -l <"$WORK/targets.tsv")
((nexprs >= 20)) || fail "only $nexprs queries found in the dashboard"
pass "$nexprs queries and $(wc -l <"$WORK/variable_queries") variable queries"

# Every nfsleuth selector is filtered by instance; which also need netns is
# known once the daemon has answered (below).
cut -f3 "$WORK/targets.tsv" | grep -oE 'nfsleuth_[a-z0-9_]+(\{[^}]*\})?' | sort -u >"$WORK/selectors"
# shellcheck disable=SC2016 # the variable as the dashboard spells it
unfiltered=$(grep -vF 'instance=~"$instance"' "$WORK/selectors" | tr '\n' ' ' || true)
[[ -z $unfiltered ]] || fail "selectors not filtered by \$instance: $unfiltered"
pass "all $(wc -l <"$WORK/selectors") distinct selectors are filtered by instance=~\"\$instance\""
# Ranges are Grafana's, never fixed: $__rate_interval (or $__range for
# totals over the time range).
# shellcheck disable=SC2016 # Grafana's variables, literally
fixed_ranges=$(cut -f3 "$WORK/targets.tsv" | grep -oE '\[[^]]*\]' | grep -vxE '\[\$__(rate_interval|range|interval)\]' |
  sort -u | tr '\n' ' ' || true)
[[ -z $fixed_ranges ]] || fail "ranges not from Grafana's variables: $fixed_ranges"
pass "every range is \$__rate_interval or \$__range"

# --- promtool ----------------------------------------------------------------------
# Each query as a recording rule (JSON is YAML).
jq -R -s "split(\"\n\") | map(select(length > 0) | split(\"\t\"))
  | {groups: [{name: \"nfsleuth-dashboard\",
               rules: map({record: \"dashboard:panel_\(.[0])_\(.[1])\", expr: .[3]})}]}" \
  "$WORK/targets.tsv" >"$WORK/dashboard.rules.yml"
promtool check rules "$WORK/dashboard.rules.yml" >"$WORK/promtool.out" 2>&1 ||
  { cat "$WORK/promtool.out"; fail "promtool check rules refuses queries of the dashboard"; }
pass "promtool check rules accepts all $nexprs queries: $(grep -o 'SUCCESS.*' "$WORK/promtool.out")"

# --- the real daemon and a real Prometheus -----------------------------------------
# Prometheus first: its service discovery hands new targets to the scrapers
# every 5 s, so it starts while the daemon attaches, and learns the
# daemon's address from a file.
echo '[]' >"$WORK/targets.json"
start_prometheus "  - job_name: nfsleuth
    file_sd_configs:
      - files: [\"$WORK/targets.json\"]
        refresh_interval: 1s"

# Four drops in a namespace of the test's own, so the drop queries have
# series to evaluate (and labels to check).
ns="nfsl-graf-$$"
make_netns "$ns"
ip netns exec "$ns" iptables -A OUTPUT -p udp --dport 7009 -j DROP
ATTACH_TIMEOUT=${ATTACH_TIMEOUT:-30} start_nfsleuth watch watch -q --interval 0.2 --metrics 127.0.0.1:0
port=$(metrics_port watch)
instance="127.0.0.1:$port"
echo "[{\"targets\": [\"$instance\"]}]" >"$WORK/targets.json.new"
mv "$WORK/targets.json.new" "$WORK/targets.json"
ip netns exec "$ns" "$TRAFFIC" udp-send --dst 127.0.0.1 --port 7009 --count 4 >/dev/null
deadline=$((SECONDS + 10))
until curl -fsS "http://$instance/metrics" >"$WORK/metrics.txt" &&
  grep -q "^nfsleuth_drops_total{.*netns=\"$ns\"} 4$" "$WORK/metrics.txt"; do
  ((SECONDS < deadline)) || { cat "$WORK/metrics.txt"; fail "the 4 drops are not in /metrics within 10 s"; }
  sleep 0.2
done
pass "nfsleuth watch on $instance exposes the test's drops"
sed -n 's/^# TYPE \([^ ]*\) \([a-z]*\)$/\1 \2/p' "$WORK/metrics.txt" | sort -u >"$WORK/exposed"

# Two scrapes of the drops, so rates over them have two samples.
deadline=$((SECONDS + 15))
until [[ $(query "count_over_time(nfsleuth_drops_total{netns=\"$ns\"}[1m])" 2>/dev/null |
  jq -r '.data.result[0].value[1] // 0' 2>/dev/null) -ge 2 ]]; do
  kill -0 "$prom" 2>/dev/null || { tail -20 "$WORK/prometheus.log"; fail "prometheus exited"; }
  ((SECONDS < deadline)) || { tail -20 "$WORK/prometheus.log"; fail "Prometheus did not scrape the drops twice within 15 s"; }
  sleep 0.5
done
pass "Prometheus on 127.0.0.1:$pport scraped the daemon"

# The variables' queries find this daemon: label_values(SELECTOR, LABEL)
# as Grafana asks it, with the selector's variables replaced.
while read -r vq; do
  [[ $vq =~ ^label_values\((.*),[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)\)$ ]] || fail "variable query not label_values(SELECTOR, LABEL): $vq"
  selector=$(jq -rn --arg s "${BASH_REMATCH[1]}" "\$s | $subst")
  label=${BASH_REMATCH[2]}
  curl -sS -G "http://127.0.0.1:$pport/api/v1/label/$label/values" --data-urlencode "match[]=$selector" >"$WORK/values.json"
  jq -e '.status == "success"' "$WORK/values.json" >/dev/null || { cat "$WORK/values.json"; fail "$vq refused"; }
  values=$(jq -r '.data | join(" ")' "$WORK/values.json")
  if [[ -z $values ]]; then
    # Nothing to list is right only where the family has no series (no
    # conntrack on this host, say).
    family=$(grep -oE 'nfsleuth_[a-z0-9_]+' <<<"$selector" | head -n1)
    ! grep -qE "^${family}[{ ]" "$WORK/metrics.txt" || fail "variable query $vq finds nothing, but $family has series"
    pass "$vq lists nothing: no $family series on this host"
    continue
  fi
  if [[ $label == instance ]]; then
    grep -qw -- "$instance" <<<"$values" || fail "$vq does not list $instance (got: $values)"
  fi
  pass "$vq -> $values"
done <"$WORK/variable_queries"

# Each query evaluates; where it has results, they carry the labels its
# panel names. One curl asks them all (an answer per file).
mkdir "$WORK/answers"
jq -rR --arg base "http://127.0.0.1:$pport/api/v1/query?query=" --arg dir "$WORK/answers" \
  'split("\t") | "url = \"\($base)\(.[3] | @uri)\"\noutput = \"\($dir)/\(.[0])_\(.[1]).json\""' \
  "$WORK/targets.tsv" >"$WORK/curl.config"
curl -sS --config "$WORK/curl.config" || fail "curl could not ask Prometheus"
: >"$WORK/query_errors"
: >"$WORK/label_errors"
with_data=0
while IFS=$'\t' read -r id ref _ q labels; do
  answer="$WORK/answers/${id}_$ref.json"
  # "ok", the number of results, the labels they lack; or "error".
  verdict=$(jq -r --arg labels "$labels" 'if .status == "success" then
      .data.result as $r | "ok \($r | length) \([$labels | split(",")[] | select(length > 0)
        | select(. as $l | $r | any(.metric | has($l) | not))] | join(","))"
    else "error" end' "$answer" 2>/dev/null || echo error)
  read -r status n lacking <<<"$verdict"
  if [[ $status != ok ]]; then
    echo "panel $id $ref: $q -> $(cat "$answer" 2>/dev/null)" >>"$WORK/query_errors"
    continue
  fi
  ((n == 0)) || with_data=$((with_data + 1))
  [[ -z $lacking ]] || echo "panel $id $ref names labels its results lack ($lacking): $q" >>"$WORK/label_errors"
done <"$WORK/targets.tsv"
[[ ! -s $WORK/query_errors ]] || { cat "$WORK/query_errors"; fail "Prometheus refuses queries of the dashboard"; }
pass "Prometheus evaluates all $nexprs queries with status success ($with_data with data now)"
[[ ! -s $WORK/label_errors ]] || { cat "$WORK/label_errors"; fail "panels name labels their results lack"; }
pass "the labels the panels name are in their results"

# The drops over the time range count a series born within it whole.
rule_drops=$(jq -r '.panels[] | select(.type == "bargauge" and (.targets[0].expr | test("increase\\(nfsleuth_drops_total")))
  | .targets[0].expr' "$dash" | head -n1)
[[ -n $rule_drops ]] || fail "no bar gauge of drops over the time range"
rule_drops=$(jq -rn --arg s "$rule_drops" "\$s | $subst" | sed "s|netns=~\"\\.\\*\"|netns=\"$ns\"|g")
assert_eq 4 "$(query "$rule_drops" | jq -r '.data.result[] | select(.metric.cause == "rule") | .value[1]')" \
  "drops by cause over the range, for the test's namespace"

# Families whose series carry netns are filtered by $netns wherever used;
# the others never are.
jq -r '.data.result[].metric | select(has("netns")) | .__name__' \
  <<<"$(query '{__name__=~"nfsleuth_.+"}')" | sort -u >"$WORK/netns_families"
[[ -s $WORK/netns_families ]] || fail "no nfsleuth series with a netns label in Prometheus"
while read -r sel; do
  family=${sel%%\{*}
  if grep -qxF "$family" "$WORK/netns_families"; then
    # shellcheck disable=SC2016 # the variable as the dashboard spells it
    [[ $sel == *'netns=~"$netns"'* ]] || fail "$family has a netns label, this selector ignores \$netns: $sel"
  fi
done <"$WORK/selectors"
pass "selectors of $(tr '\n' ' ' <<<"$(cat "$WORK/netns_families")")are filtered by netns=~\"\$netns\""
# A family with series but none with netns has no such label.
while read -r family; do
  grep -qxF "$family" "$WORK/netns_families" && continue
  grep -qE "^${family}[{ ]" "$WORK/metrics.txt" || continue
  if grep -E "^${family}[{]" "$WORK/selectors" | grep -qF 'netns='; then
    fail "$family has no netns label, but a selector filters on it"
  fi
done < <(grep -oE '^nfsleuth_[a-z0-9_]+' "$WORK/selectors" | sort -u)
pass "no selector filters netns on a family without it"

stop_nfsleuth "$NFSLEUTH_BG_PID" || fail "watch exited with $? on SIGINT"
pass "watch stops cleanly on SIGINT"

# --- every metric the dashboard uses is exposed --------------------------------------
{
  cut -f3 "$WORK/targets.tsv"
  cat "$WORK/variable_queries"
} | grep -oE 'nfsleuth_[a-z0-9_]+' | sort -u >"$WORK/used"
used_count=$(wc -l <"$WORK/used")
((used_count >= 20)) || fail "only $used_count nfsleuth metrics found in the dashboard's queries"
missing=()
while read -r name; do
  if grep -q "^$name " "$WORK/exposed"; then
    echo "  $name ($(grep "^$name " "$WORK/exposed" | cut -d' ' -f2))"
    continue
  fi
  # Histogram and summary series carry a suffix their family's name lacks.
  base=$(sed -E 's/_(bucket|sum|count)$//' <<<"$name")
  if [[ $base != "$name" ]] && grep -qE "^$base (histogram|summary)$" "$WORK/exposed"; then
    echo "  $name (series of $base)"
    continue
  fi
  echo "  $name MISSING"
  missing+=("$name")
done <"$WORK/used"
((${#missing[@]} == 0)) || fail "the dashboard uses metrics nfsleuth does not expose: ${missing[*]}"
pass "all $used_count metrics the dashboard uses are exposed by nfsleuth"
