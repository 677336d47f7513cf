# SPDX-License-Identifier: Apache-2.0
"""Retention (storage.retention.rules, octoserve-admin retention): table-driven rules, each
over tags pushed in a known order (push times from the tag records), the first rule naming
a repository deciding; removed tags are deletes (journalled), the manifests stay for gc."""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Registry  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def tag(reg, repo, name, body):
    r = reg.request("PUT", "/v2/%s/manifests/%s" % (repo, name), body=body,
                    headers={"Content-Type": OCI_MANIFEST})
    assert r.status == 201, r


def tags_of(reg, repo):
    r = reg.request("GET", "/v2/%s/tags/list" % repo)
    return set(json.loads(r.body)["tags"] or []) if r.status == 200 else set()


class RetentionTest(unittest.TestCase):

    CASES = [
        # (name, rule, tags old→new ("|" marks a pause past older_than), kept)
        ("keep the last 2 by push time", {"keep_last": 2},
         ["a", "b", "c", "d"], {"c", "d"}),
        ("keep_last 0 keeps only what keep_tags names",
         {"keep_last": 0, "keep_tags": ["latest", "v*"]},
         ["latest", "v1", "v2", "dev", "tmp"], {"latest", "v1", "v2"}),
        ("patterns protect, the rest ranked", {"keep_last": 1, "keep_tags": ["release-*"]},
         ["release-1", "x", "release-2", "y", "z"], {"release-1", "release-2", "z"}),
        ("older than a duration", {"older_than": "2s"},
         ["old1", "old2", "|", "new1", "new2"], {"new1", "new2"}),
        ("either keeps: the last 3, or younger than the duration",
         {"keep_last": 3, "older_than": "2s"},
         ["old1", "old2", "old3", "old4", "|", "new1"], {"old3", "old4", "new1"}),
    ]

    def test_rules(self):
        rules = []
        for i, (name, rule, _, _) in enumerate(self.CASES):
            rules.append(dict(rule, repositories="case%d/*" % i))
        rules.append({"repositories": "case*", "keep_last": 0})  # never reached for case<n>/x
        with Registry(config={"storage": {"retention": {"rules": rules}}}) as reg:
            manifest = reg.request("GET", "/v2/seed/img/manifests/%s" %
                                   reg.push_manifest("seed/img", "seed"),
                                   headers={"Accept": OCI_MANIFEST}).body
            for i, (_, _, order, _) in enumerate(self.CASES):
                reg.push_blob("case%d/img" % i, b"{}")
            paused = False
            pushed = [[] for _ in self.CASES]
            # push every case's tags in step, pausing once for all at the "|" marks
            for step in range(max(len(c[2]) for c in self.CASES)):
                if any(step < len(c[2]) and c[2][step] == "|" for c in self.CASES) and not paused:
                    time.sleep(2.5)
                    paused = True
                for i, (_, _, order, _) in enumerate(self.CASES):
                    if step < len(order) and order[step] != "|":
                        tag(reg, "case%d/img" % i, order[step], manifest)
                        pushed[i].append(order[step])
                        time.sleep(0.005)  # distinct push times in milliseconds
            dry = reg.admin("retention", "--dry-run", "--json").json
            for i in range(len(self.CASES)):
                self.assertEqual(tags_of(reg, "case%d/img" % i), set(pushed[i]))
            result = reg.admin("retention", "--json").json
            self.assertEqual(result["removed"], dry["removed"])
            self.assertEqual({(x["repository"], x["tag"]) for x in result["items"]},
                             {(x["repository"], x["tag"]) for x in dry["items"]})
            for i, (name, _, _, kept) in enumerate(self.CASES):
                with self.subTest(name):
                    self.assertEqual(tags_of(reg, "case%d/img" % i), kept)
            self.assertEqual(tags_of(reg, "seed/img"), {"seed"})  # no rule names it
            # the deletes are journalled like any tag delete
            events = [json.loads(line) for line in reg.journal_lines() if line]
            deletes = {(e["repo"], e["tag"]) for e in events if e["type"] == "tag.delete"}
            self.assertEqual(deletes, {(x["repository"], x["tag"]) for x in result["items"]})
            # the manifest stays (untagged where no tag is left): gc's to free
            r = reg.request("HEAD", "/v2/case0/img/manifests/a")
            self.assertEqual(r.status, 404)
            self.assertIn("octoserve_retention_removed_tags_total %d" % result["removed"],
                          reg.request("GET", "/metrics").body.decode())
            self.assertIn("last retention: 20", reg.admin("stats").stdout)

    def test_bad_rules_are_refused_naming_the_key(self):
        with Registry() as reg:
            for rules, why in (
                    ([{"repositories": "a/*"}], "needs keep_last or older_than"),
                    ([{"keep_last": 1}], "[0].repositories: is required"),
                    ([{"repositories": "a", "keep_last": -1}], "keep_last: must be"),
                    ([{"repositories": "a", "older_than": "soon"}], "older_than: must be"),
                    ([{"repositories": "a", "keep_last": 1, "keep": 2}], 'unknown member "keep"'),
                    ({"repositories": "a"}, "must be an array")):
                p = reg.admin("check-config", check=False, env=dict(
                    reg.env, OCTOSERVE_STORAGE_RETENTION_RULES=json.dumps(rules)))
                self.assertEqual(p.returncode, 1, rules)
                self.assertIn(why, p.stderr)
                self.assertIn("storage.retention.rules", p.stderr)


if __name__ == "__main__":
    unittest.main()
