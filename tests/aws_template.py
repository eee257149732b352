#!/usr/bin/env python3
"""aws_template.py SRC_DIR TEMPLATE.json... - checks the policies of the
templates `sdsinf aws template` prints (Python's standard library only):

* no *FullAccess policy anywhere, no action with a wildcard;
* every action the worker role allows is one sdsinf calls: an IAM action
  maps to the API calls that need it, and one of them must be named in
  the sources under SRC_DIR/src (aws/, channels/); the only others are
  EXTRA's, each with its reason;
* no Resource "*": every resource is one of the template's own (Ref,
  Fn::GetAtt, or Fn::Sub naming only its resources and AWS:: pseudo
  parameters; a '*' only as the "/*" of the stack's bucket's objects, or
  of those under a prefix: "/runs/*");
* the queue policy lets only the stack's topic send, and only SendMessage.
"""
import glob
import json
import re
import sys

# IAM action: the API calls that need it (AWS's service authorization
# reference: a batch call needs its single call's permission).
NEEDS = {
    "sqs:SendMessage": ["SendMessage", "SendMessageBatch"],
    "sqs:ReceiveMessage": ["ReceiveMessage"],
    "sqs:DeleteMessage": ["DeleteMessage", "DeleteMessageBatch"],
    "sqs:ChangeMessageVisibility": ["ChangeMessageVisibility",
                                    "ChangeMessageVisibilityBatch"],
    "sqs:GetQueueUrl": ["GetQueueUrl"],
    "sqs:GetQueueAttributes": ["GetQueueAttributes"],
    "sns:Publish": ["Publish", "PublishBatch"],
    "s3:GetObject": ["GetObject"],
    "s3:PutObject": ["PutObject"],
    "s3:DeleteObject": ["DeleteObject", "DeleteObjects"],
    "s3:ListBucket": ["ListObjectsV2"],
}
# Actions sdsinf does not call itself, and why the role has them.
EXTRA = {
    "logs:CreateLogStream": "Lambda writes the function's output",
    "logs:PutLogEvents": "Lambda writes the function's output",
    "lambda:InvokeFunction": "the lambda launcher's tree (with --package)",
}
PSEUDO = {"AWS::Partition", "AWS::Region", "AWS::AccountId",
          "AWS::StackName", "AWS::URLSuffix"}


def called(src):
    """Every quoted CamelCase word that opens a string in the AWS code."""
    names = set()
    for path in glob.glob(src + "/src/aws/*.c") + \
            glob.glob(src + "/src/channels/*.c"):
        with open(path) as f:
            names |= set(re.findall(r'"([A-Z][A-Za-z0-9]+)', f.read()))
    return names


def fail(template, why):
    print("FAIL: %s: %s" % (template, why))
    sys.exit(1)


def own_resource(t, name, r):
    """Whether r names one of template t's resources (or parts of them)."""
    res = t["Resources"]
    if isinstance(r, str):
        return False
    if "Ref" in r:
        return r["Ref"] in res
    if "Fn::GetAtt" in r:
        return r["Fn::GetAtt"][0] in res
    if "Fn::Sub" in r:
        s = r["Fn::Sub"]
        for v in re.findall(r"\$\{([^}]*)\}", s):
            if v not in PSEUDO and v.split(".")[0] not in res:
                return False
        rest = re.sub(r"\$\{[^}]*\}", "", s)
        if "*" in rest and not (s.startswith("${Bucket.Arn}/") and
                                re.fullmatch(r"/([A-Za-z0-9_-]+/)*\*", rest)):
            return False
        return s.startswith("${") or "${AWS::StackName}" in s
    return False


def statements(doc):
    st = doc["Statement"]
    return st if isinstance(st, list) else [st]


def listed(x):
    return x if isinstance(x, list) else [x]


def check(src, path):
    with open(path) as f:
        text = f.read()
    t = json.loads(text)
    if "FullAccess" in text:
        fail(path, "names a *FullAccess policy")
    names = called(src)
    roles = [(k, v) for k, v in t["Resources"].items()
             if v["Type"] == "AWS::IAM::Role"]
    if not roles:
        fail(path, "has no role")
    for name, role in roles:
        p = role["Properties"]
        if p.get("ManagedPolicyArns"):
            fail(path, "%s has managed policies %s" % (name,
                                                       p["ManagedPolicyArns"]))
        for pol in p.get("Policies", []):
            for s in statements(pol["PolicyDocument"]):
                if s["Effect"] != "Allow" or "NotAction" in s or \
                        "NotResource" in s:
                    fail(path, "%s: statement %s is not a plain Allow" %
                         (name, s.get("Sid")))
                for a in listed(s["Action"]):
                    if "*" in a:
                        fail(path, "%s allows the wildcard %s" % (name, a))
                    if a in EXTRA:
                        continue
                    if a not in NEEDS:
                        fail(path, "%s allows %s, which no call of sdsinf "
                             "needs" % (name, a))
                    if not names & set(NEEDS[a]):
                        fail(path, "%s allows %s, but sdsinf calls none of "
                             "%s" % (name, a, NEEDS[a]))
                for r in listed(s["Resource"]):
                    if r == "*" or not own_resource(t, name, r):
                        fail(path, "%s: statement %s has resource %s, not "
                             "one of the stack's" % (name, s.get("Sid"), r))
    for name, v in t["Resources"].items():
        if v["Type"] != "AWS::SQS::QueuePolicy":
            continue
        for s in statements(v["Properties"]["PolicyDocument"]):
            if listed(s["Action"]) != ["sqs:SendMessage"] or \
                    s["Principal"] != {"Service": "sns.amazonaws.com"} or \
                    s["Condition"] != {"ArnEquals":
                                       {"aws:SourceArn": {"Ref": "Topic"}}}:
                fail(path, "%s lets more than the stack's topic send" % name)
            for r in listed(s["Resource"]):
                if not own_resource(t, name, r):
                    fail(path, "%s: resource %s is not the stack's" % (name, r))
    print("ok: %s: %d resources, the policies least privilege" %
          (path, len(t["Resources"])))


# The deploying user's policy (deploy/aws-deployer-policy.json): plain
# Allows of named actions on sdsinf-* resources; "*" only for the actions
# AWS does not scope to a resource, RunInstances' parts by type and the
# public Amazon Linux image parameter.
UNSCOPED = {"sqs:ListQueues", "logs:DescribeLogGroups", "ec2:DescribeInstances"}


def check_deployer(src):
    path = src + "/deploy/aws-deployer-policy.json"
    with open(path) as f:
        text = f.read()
    if "FullAccess" in text:
        fail(path, "names a *FullAccess policy")
    for s in statements(json.loads(text)):
        if s["Effect"] != "Allow" or "NotAction" in s or "NotResource" in s:
            fail(path, "statement %s is not a plain Allow" % s.get("Sid"))
        acts = listed(s["Action"])
        if any("*" in a for a in acts):
            fail(path, "statement %s allows a wildcard action" % s.get("Sid"))
        for r in listed(s["Resource"]):
            if r == "*" and not set(acts) <= UNSCOPED:
                fail(path, "statement %s: * for %s" % (s.get("Sid"), acts))
            if r != "*" and "sdsinf-" not in r and \
                    not (acts[0].startswith("ec2:") and ":ec2:" in r) and \
                    ":parameter/aws/service/ami-amazon-linux-latest/" not in r:
                fail(path, "statement %s: %s is not sdsinf's" % (s.get("Sid"), r))
    print("ok: %s: least privilege" % path)


if __name__ == "__main__":
    for p in sys.argv[2:]:
        check(sys.argv[1], p)
    check_deployer(sys.argv[1])
