#!/usr/bin/env python3
"""Validate a QA set (JSON lines) against the leiphone-fintech corpus.

Usage: python tests/data/qa/validate.py [FILE]

FILE defaults to tuned/train.jsonl next to this script. Standard library only.

The corpus is an RSS feed whose XML tags were stripped. Each item is:
  a line ``TITLE //LINK first-paragraph`` (the very first line also carries
  the channel header before the first title), then paragraphs separated by
  blank lines, then a line ``]]>``, then ``CATEGORY //LINK#comments PUBDATE``.

Checks, per QA item:
  * the line is a JSON object with the required keys and no unknown keys;
  * ``id`` matches ``T\\d{3,}`` and is unique; questions are unique;
  * ``type`` and ``style`` take allowed values;
  * ``context`` is present (non-empty list of strings) exactly on follow-ups;
  * unanswerable items have null answer, evidence and link and no alternatives;
  * every other item: answer ⊂ evidence ⊂ one paragraph of the article whose
    link matches, and every alternative ⊂ that same paragraph;
  * keyword items look like search-box input (spaces, no question mark);
  * traditional items contain no common Simplified-only characters.

Prints each problem and a summary (counts by style and type, articles covered)
and exits 1 if there was any problem.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[3] / "corpus" / "leiphone-fintech.txt"
DEFAULT_FILE = Path(__file__).resolve().parent / "tuned" / "train.jsonl"

TYPES = {"who", "when", "number", "where", "what", "why", "how", "list", "yesno"}
STYLES = {"lexical", "paraphrase", "followup", "traditional", "keyword", "unanswerable"}
REQUIRED = ["id", "question", "answer", "alternatives", "evidence", "link", "type", "style"]
OPTIONAL = ["context"]

LINK_RE = re.compile(r"//www\.xyschoolife\.com/category/[^\s#]+?\.html")
ID_RE = re.compile(r"^T\d{3,}$")

# Frequent characters that only exist in Simplified Chinese (OpenCC never keeps them
# when converting to Traditional); a Traditional question must not contain any.
SIMPLIFIED_ONLY = set(
    "与专业东丝两严个临为丽举义乐习书买乱争亏亚产亲亿仅从仓们众优会伟传伦体侠俩债倾偿"
    "储儿关兴养兽内册写军农冲决况净减凭击刘则刚创别刹剑剥剧办务动励劲劳势区医华协单卖"
    "却厅历厉压参双发变叠号吗听启吴呗员响团围国图圆场坏块坚坛垄堑声壳处备复够头夺奖奥"
    "妈娅学宁宝实审宽宾对寻导寿将尔尘尝尽层届属岁岗岛巅币师带帮并庆库应庞开异张弥弹强"
    "归当录彦彻径忆忧怀态总恶惨惯戏战扑执扩扫扬扰抢护报担拟拥拦拨择挥损换揽携摄摆摇摊"
    "撑数斩断无旧时旷显晋晓晖暂术机杀杂权条来杨构标栈栋树样档桥检楼槛横欢欧毁毕气汇汉"
    "沟没泽测济浓润涨渐滚滞满滥滩潇潜澜灯灵灾炉点炼烟烦热爱爷牵状独猫献环现琼电画畅畴"
    "疗疯监盖盘睐瞩码础硕碍礼祎离积称秽稳穷竞笔筛筹签简类紧纠红约级纪纯纲纳纵纷纸纽线"
    "练组细织终绍经绑结绕给络绝统继绩绪续维综绿缓编缘缝缩缴网罗罚职联肃肿脏脑脚脸腾舆"
    "节苏荡荣获营萨蒋蓝虑虚虽蚁蚂蛮补装见观规觅视觉触誉计订认讨让训议讯记讲许论设访证"
    "评识诈诉诊诋词译试诚话诞询该详语误说请诸诺读课谁调谈谋谓谢谨谱贝负贡财责贤败账货"
    "质贩贫购贯贴贵贷贸费赁资赊赋赌赎赔赖赚赛赞赠赢赵赶趋跃践跻踪车轨轩转轮软轰轻载较"
    "辅辆辈辉辐辑输辞辩边达迁过迈运还这进远违连迟迹选逊递逻遥邮郑释鉴针钟钱铁铭银铺链"
    "销锁锋锐错锡锤锦键镜长门闪闭问间闻阅阈阐阔队阳阴阵阶际陆陈险随隐难雏静韩页顶项顺"
    "须顾顿颁预领颇频颖颗题额颠风飙飞饭饮饰饱饼馈马驱驶驻驾验骗骤鲜鸣鸿鹏鹰麦黄齐龄龙"
)


def parse_corpus(path: Path) -> dict[str, list[str]]:
    """Return {link: [paragraph, ...]} for every item of the feed."""
    lines = path.read_text(encoding="utf-8").split("\n")
    items: dict[str, list[str]] = {}
    body: list[str] = []
    expect_category = False
    for line in lines:
        if line.strip() == "]]>":
            if body:
                link, paras = split_item(body)
                if link is not None:
                    items[link] = paras
            body = []
            expect_category = True
            continue
        if expect_category and "#comments" in line:
            expect_category = False
            continue
        expect_category = False
        body.append(line)
    return items


def split_item(body: list[str]) -> tuple[str | None, list[str]]:
    # Skip leading blank lines before the title line.
    while body and not body[0].strip():
        body = body[1:]
    if not body:
        return None, []
    first = body[0]
    m = LINK_RE.search(first)
    if m is None:
        return None, []
    rest = first[m.end() :].lstrip(" ")
    paras: list[str] = []
    cur: list[str] = [rest] if rest.strip() else []
    for line in body[1:]:
        if line.strip():
            cur.append(line)
        elif cur:
            paras.append("\n".join(cur))
            cur = []
    if cur:
        paras.append("\n".join(cur))
    return m.group(0), paras


def check(records: list[tuple[int, object]], corpus: dict[str, list[str]]) -> list[str]:
    problems: list[str] = []
    seen_ids: dict[str, int] = {}
    seen_q: dict[str, str] = {}

    for lineno, rec in records:
        where = f"line {lineno}"
        if not isinstance(rec, dict):
            problems.append(f"{where}: not a JSON object")
            continue
        rid = rec.get("id")
        if isinstance(rid, str):
            where = f"{rid} (line {lineno})"
        for k in REQUIRED:
            if k not in rec:
                problems.append(f"{where}: missing key {k!r}")
        for k in rec:
            if k not in REQUIRED and k not in OPTIONAL:
                problems.append(f"{where}: unknown key {k!r}")
        if any(k not in rec for k in REQUIRED):
            continue

        # id
        if not isinstance(rid, str) or not ID_RE.match(rid):
            problems.append(f"{where}: bad id {rid!r}")
        elif rid in seen_ids:
            problems.append(f"{where}: duplicate id (first on line {seen_ids[rid]})")
        else:
            seen_ids[rid] = lineno

        q = rec["question"]
        if not isinstance(q, str) or not q.strip():
            problems.append(f"{where}: empty question")
        elif q in seen_q:
            problems.append(f"{where}: duplicate question (also {seen_q[q]})")
        else:
            seen_q[q] = str(rid)

        typ, style = rec["type"], rec["style"]
        if typ not in TYPES:
            problems.append(f"{where}: bad type {typ!r}")
        if style not in STYLES:
            problems.append(f"{where}: bad style {style!r}")

        # context only on follow-ups
        ctx = rec.get("context")
        if style == "followup":
            if not (
                isinstance(ctx, list) and ctx and all(isinstance(c, str) and c.strip() for c in ctx)
            ):
                problems.append(f"{where}: followup needs a non-empty list of strings as context")
        elif "context" in rec:
            problems.append(f"{where}: context given on a non-followup item")

        if (
            style == "keyword"
            and isinstance(q, str)
            and (" " not in q.strip() or q.rstrip().endswith(("?", "？")))
        ):
            problems.append(
                f"{where}: keyword question should be space-separated terms, not a question"
            )
        if style == "traditional" and isinstance(q, str):
            bad = sorted({ch for ch in q if ch in SIMPLIFIED_ONLY})
            if bad:
                problems.append(
                    f"{where}: traditional question contains Simplified characters {''.join(bad)}"
                )

        alts = rec["alternatives"]
        if not isinstance(alts, list) or not all(isinstance(a, str) and a for a in alts):
            problems.append(f"{where}: alternatives must be a list of non-empty strings")
            alts = []

        ans, ev, link = rec["answer"], rec["evidence"], rec["link"]
        if style == "unanswerable":
            if ans is not None or ev is not None or link is not None:
                problems.append(f"{where}: unanswerable item must have null answer/evidence/link")
            if alts:
                problems.append(f"{where}: unanswerable item must have no alternatives")
            continue

        if not isinstance(ans, str) or not ans:
            problems.append(f"{where}: answer must be a non-empty string")
            continue
        if not isinstance(ev, str) or not ev:
            problems.append(f"{where}: evidence must be a non-empty string")
            continue
        if not isinstance(link, str) or link not in corpus:
            problems.append(f"{where}: link {link!r} is not an item of the feed")
            continue
        if ans not in ev:
            problems.append(f"{where}: answer {ans!r} is not a substring of the evidence")
        paras = [p for p in corpus[link] if ev in p]
        if not paras:
            problems.append(f"{where}: evidence is not a substring of any paragraph of {link}")
            continue
        for a in alts:
            if a == ans:
                problems.append(f"{where}: alternative repeats the answer")
            if not any(a in p for p in paras):
                problems.append(f"{where}: alternative {a!r} is not in the evidence paragraph")

    return problems


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_FILE
    if not CORPUS.exists():
        print(f"corpus not found: {CORPUS}")
        return 1
    corpus = parse_corpus(CORPUS)

    records: list[tuple[int, object]] = []
    problems: list[str] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                records.append((lineno, json.loads(line)))
            except json.JSONDecodeError as e:
                problems.append(f"line {lineno}: invalid JSON ({e})")

    problems += check(records, corpus)
    for p in problems:
        print("PROBLEM:", p)

    recs = [r for _, r in records if isinstance(r, dict)]
    styles = Counter(r.get("style") for r in recs)
    types = Counter(r.get("type") for r in recs)
    links = {r.get("link") for r in recs if r.get("link")}
    print(f"\n{path}: {len(recs)} items, corpus has {len(corpus)} articles")
    print("by style:", ", ".join(f"{k}={v}" for k, v in styles.most_common()))
    print("by type: ", ", ".join(f"{k}={v}" for k, v in types.most_common()))
    print(f"articles covered: {len(links)} of {len(corpus)}")
    print(f"problems: {len(problems)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
