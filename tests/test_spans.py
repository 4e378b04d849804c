"""How spans are cut and what they hold: sentences, clauses, answer kinds, soft matching."""

from retrieval import features
from retrieval.features import credit
from retrieval.kinds import expected_unit, tells_earlier, type_match
from retrieval.question import analyse, focus_words, pieces
from retrieval.spans import (
    LISTS,
    clause_spans,
    continues,
    sentence_spans,
    strip_span,
)
from retrieval.synonyms import synonyms


def test_sentences_and_clauses_keep_offsets() -> None:
    text = "蓝鲸保险表示,将继续加大投入。净利润9.3亿元!明年呢?"
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == [
        "蓝鲸保险表示,将继续加大投入。",
        "净利润9.3亿元!",
        "明年呢?",
    ]
    sentence = "收入分别为1亿元、2亿元,同比增长8%。"
    assert [sentence[s:e] for s, e in clause_spans(sentence)] == [
        "收入分别为1亿元、2亿元,",
        "同比增长8%。",
    ]


def test_a_line_break_ends_a_sentence_and_blank_pieces_are_dropped() -> None:
    text = "第一行\n第二行。\n\n  第三句"
    assert [text[s:e] for s, e in sentence_spans(text)] == ["第一行\n", "第二行。", "  第三句"]
    sentence = "收入1亿元,同比增长8%"  # the last clause has no punctuation
    assert [sentence[s:e] for s, e in clause_spans(sentence)] == ["收入1亿元,", "同比增长8%"]


def test_a_span_loses_its_punctuation_but_keeps_quotes_titles_and_percent() -> None:
    assert strip_span(",10亿美元。", 0, 7) == (1, 6)
    assert strip_span("“好公司”。", 0, 6) == (0, 5)
    assert strip_span("《报告》,", 0, 5) == (0, 4)
    assert strip_span("(一)完善", 0, 5) == (0, 5)
    assert strip_span("增长8%。", 0, 5) == (0, 4)
    assert strip_span("。,", 0, 2) == (2, 2)  # nothing left
    assert strip_span("甲,乙。丙", 1, 4) == (2, 3)  # within the bounds given


def test_what_continues_the_sentence_before() -> None:
    assert continues("提出三项要求,分别是:", "一是完善治理。")  # announced
    for start in ("包括", "主要包括", "主要有", "分别是", "分别为", "即"):
        assert continues("目前的三大业务", start + "小微信贷和财富管理。"), start
    for refers in ("上述", "前述", "此举", "此事", "这一决定", "这一举措", "该决定", "该举措"):
        assert continues("公司业绩持续低迷。", f"故作出{refers}安排。"), refers
    assert not continues("公司业绩持续低迷。", "目前已有不少市民使用。")
    assert not continues("三大业务", "小微信贷包括两类。")  # 包括 later on does not go on
    for announcing in ("分别是:", "包括:", "如下:", "以下:", "即:", "指的是:", "为:", "有:"):
        assert LISTS.fullmatch(announcing), announcing
    assert not LISTS.fullmatch("公司今年的收入为:")  # more than a heading


def test_type_match_needs_something_the_question_does_not_say() -> None:
    assert type_match("when", "公司于2016年5月成立。") == 1.0
    assert type_match("when", "公司于2016年5月成立。", question="2016年5月成立的公司叫什么") == 0.0
    assert type_match("number", "注册资本10亿元") == 1.0
    assert type_match("number", "打造了一个平台") == 0.0
    assert type_match("where", "总部位于杭州") == 1.0
    assert type_match("why", "由于业绩持续低迷,故退出") == 1.0
    assert type_match("why", "公司宣布退出市场") == 0.0


ROLES = (
    "CEO", "CTO", "CFO", "COO", "CIO", "CDO", "总裁", "董事长", "总经理", "负责人", "创始人",
    "首席", "主席", "副总裁", "合伙人", "总监", "院长", "科学家", "董事", "行长", "高管", "专家",
    "经理", "顾问", "部长", "主任", "研究员", "架构师", "监事", "秘书", "教授", "工程师",
    "John Smith",
)  # fmt: skip


def test_who_wants_a_title_or_a_person_who_speaks_or_acts() -> None:
    for role in ROLES:
        assert type_match("who", f"他是那家公司的{role}") == 1.0, role
    for verb in (
        "表示", "称", "说", "认为", "指出", "透露", "坦言", "介绍", "出任", "担任", "加盟", "接任",
    ):  # fmt: skip
        assert type_match("who", f"后来林晓峰{verb}此事") == 1.0, verb
    for text in ("负责人是王明,", "项目由王明。", "总裁为王明,", "接手的是王明。"):
        assert type_match("who", text) == 1.0, text
    assert type_match("who", "公司宣布退出市场") == 0.3
    assert type_match("who", "公司CEO发声", "星河科技的ceo是谁") == 0.3  # the title asked
    assert type_match("who", "CEO林晓峰", "星河科技的ceo是谁") == 1.0  # and a name
    asked = ("什么职务", "什么职位", "什么头衔", "什么身份", "什么角色", "什么岗位", "什么官职")
    for ask in (*asked, "什么位置", "任什么", "当什么官"):
        q = "他在亚马逊" + ask
        assert type_match("what", "他曾任亚马逊的首席云技术顾问", q) == 1.0, ask
        assert type_match("what", "他曾在亚马逊工作", q) == 0.0, ask


def test_list_how_why_and_yesno_hints() -> None:
    for sep in ("、", "以及", "和", "及", "等", "分别"):
        assert type_match("list", f"小微信贷{sep}财富管理") == 0.5, sep  # one separator
    assert type_match("list", "A、B、C、D") == 1.0 and type_match("list", "没有") == 0.0
    for word in (
        "因为", "由于", "原因", "因此", "所以", "为了", "导致", "出于", "鉴于", "目的", "以便",
        "为此", "是因", "源于", "故", "担心", "旨在", "希望",
    ):  # fmt: skip
        assert type_match("why", f"公司{word}退出市场") == 1.0, word
    assert type_match("why", "受疫情影响退出") == 1.0
    for word in (
        "通过", "采用", "利用", "借助", "依靠", "方式", "方法", "模式", "手段", "收购", "合作",
        "推出", "让", "把",
    ):  # fmt: skip
        assert type_match("how", f"公司{word}进入市场") == 1.0, word
    assert type_match("how", "以股权形式进入") == 1.0 and type_match("how", "公司退出市场") == 0.3
    for word in ("是", "不", "没有", "并非", "未", "已", "将", "尚", "无"):
        assert type_match("yesno", f"星河科技{word}上市") == 1.0, word
    assert type_match("yesno", "星河科技上市") == 0.3
    assert type_match("what", "打造了一个平台") == 0.5  # no pattern: neither for nor against


PLACES = (
    "北京", "上海", "深圳", "广州", "杭州", "香港", "澳门", "台湾", "新加坡", "美国", "纽约",
    "伦敦", "日本", "东京", "欧洲", "海外", "境外", "全球", "国内", "中国", "江苏省", "苏州市",
    "浦东新区", "昆山县", "泰国", "加州", "海南岛", "港股", "美股", "A股", "纳斯达克", "纽交所",
    "科创板", "创业板", "上交所", "深交所", "港交所",
)  # fmt: skip


def test_where_wants_any_place_or_market() -> None:
    for place in PLACES:
        assert type_match("where", f"公司将落户{place}", "在哪里") == 1.0, place
    for name in ("星河省", "星河市", "星河县", "星河岛", "星河州", "星河国"):  # no name jieba knows
        assert type_match("where", f"公司将落户{name}", "在哪里") == 1.0, name
    for text in ("公司进入市场", "股市大涨", "区块链", "国际业务"):
        assert type_match("where", text, "在哪里") == 0.0, text
    for q in (
        "在哪任职", "在哪就职", "在哪上学", "在哪读的博士", "哪所学校", "哪个律所", "哪个机构",
    ):  # fmt: skip
        assert type_match("where", "他在青松银行工作", q) == 1.0, q
    for kind in (
        "大学", "学院", "交易所", "律师事务所", "研究院", "实验室", "银行", "证券", "公司", "集团",
    ):  # fmt: skip
        assert type_match("where", f"他在星河{kind}", "他在哪工作") == 1.0, kind


DATES = (
    "2020年", "2020年3月", "2020年3月5日", "2020年上半年", "2020年初", "2020年底", "3月5日", "3月",
    "3月初", "3月底", "3月中旬", "3月下旬", "3月份", "2020-03", "2020/3/5", "2020.3", "三月",
    "5日", "年初", "年底", "年末", "年中", "年内", "上半年", "下半年", "今年", "去年", "明年",
    "前年", "月初", "月底", "月末", "当年", "次年", "同年", "第一季度", "第3季度", "3天前",
    "2周后", "6个月内", "5年前",
)  # fmt: skip


def test_when_wants_any_date() -> None:
    for date in DATES:
        assert type_match("when", f"公司于{date}上市") == 1.0, date
    for part in ("初", "底", "中", "末"):  # more precise than the year the question says
        assert type_match("when", f"公司于2020年{part}上市", "2020年什么时候上市") == 1.0, part
    for part in ("初", "底", "中旬", "上旬", "下旬", "份", "末"):
        assert type_match("when", f"公司于3月{part}上市", "3月什么时候上市") == 1.0, part


def test_a_calendar_date_is_no_number_however_written() -> None:
    for date in ("1999年", "2021-01-28", "2021/1/28", "2021.1", "1月28日"):
        assert type_match("number", f"公司于{date}成立") == 0.0, date
    for years in (
        "2019、2020年", "2019-2020", "2019至2021年", "2019到2021年", "2019和2020", "1998和1999", "在2019",
    ):  # fmt: skip
        assert type_match("number", f"公司{years}") == 0.0, years
    assert type_match("number", "2021年3家银行退出") == 1.0  # a number right after a date


UNIT_ASKED = {
    "哪天开业": ["哪一天开业", "几号开业", "哪一日开业", "具体日期是"],
    "哪年开业": ["哪一年开业", "几几年开业"],
    "几月开业": ["哪个月开业", "几月份开业"],
    "多少钱": [
        "花了多少", "金额是", "募资", "融资", "估值", "营收", "收入", "利润", "身价", "市值",
        "年薪", "薪酬", "月薪", "资本", "价格", "价是",
    ],
    "比例": [
        "占比", "百分之几", "几成", "率是多少", "率有多高", "涨了多少", "增长了多少", "降了多少",
        "提升了多少", "提高了多少", "下降了多少", "涨幅", "降幅",
    ],
    "多久": ["多长时间", "几年", "几个月", "几天", "多少天", "多少年"],
}  # fmt: skip


def test_every_wording_that_names_the_unit() -> None:
    units = {first: expected_unit(first) for first in UNIT_ASKED}
    assert None not in units.values() and len(set(units.values())) == len(units)
    for first, others in UNIT_ASKED.items():
        for q in others:
            assert expected_unit(q) is units[first], q
    assert type_match("when", "于5月八日加入", "哪一天加入的") == 1.0
    assert type_match("when", "于2016年五月加入", "几月加入的") == 1.0
    assert type_match("when", "于2016年5月加入", "几月加入的") == 1.0
    for unit in ("元", "亿", "万"):
        assert type_match("number", f"花了300{unit}", "花了多少钱") == 1.0, unit
    for amount in ("3%", "3％", "3‰", "三成", "三分之一"):
        assert type_match("number", amount, "占比多少") == 1.0, amount
    for unit in ("年", "个月", "月", "天", "日", "周", "小时", "分钟", "秒"):
        assert type_match("number", f"等了3{unit}", "要等多久") == 1.0, unit
    for unit in "笔家人名位个项张架辆次倍款只台户条份轮期座国城股篇":
        assert type_match("number", f"3{unit}", f"有多少{unit}") == 1.0, unit
    for unit in "个家位名人项倍成次轮年款亿万日天架张条种篇":  # after a Chinese numeral
        assert type_match("number", f"共有三{unit}") == 1.0, unit
    assert type_match("number", "3家", "有几家") == 1.0
    assert type_match("number", "3人", "有几家") == 0.5
    # the unit within two characters of a number, of any number the span gives
    assert type_match("number", "发表论文20余篇", "发表了多少篇论文") == 1.0
    assert type_match("number", "每20人写一篇", "发表了多少篇论文") == 0.5
    assert type_match("number", "共3篇论文,被引用200次", "发表了多少篇论文") == 1.0


def test_a_listing_place_may_be_one_character() -> None:
    q = "京东科技计划在哪里上市"
    assert type_match("where", "京东科技计划于2022年在港IPO", q) == 1.0
    assert type_match("where", "此次赴美上市消息传出", q) == 1.0
    assert type_match("where", "他此前在美团负责金融业务", q) == 0.0  # 美团 is no place
    assert type_match("where", "募资10亿港元", q) == 0.0


def test_a_date_is_not_a_number() -> None:
    assert type_match("number", "2021年1月28日,券商开始限制交易") == 0.0
    assert type_match("number", "在2020年之前,他们最看重的还是云") == 0.0
    assert type_match("number", "2021年1月28日,收到约30亿美元的存款要求") == 1.0
    assert type_match("number", "注册资本2000万元") == 1.0
    assert type_match("number", "共有2019名员工") == 1.0
    assert type_match("when", "2021年1月28日,券商开始限制交易") == 1.0


def test_the_question_wording_names_the_unit() -> None:
    q = "星河支付融资花了多少钱"
    assert expected_unit(q) is not None
    assert type_match("number", "完成5亿元融资", q) == 1.0
    assert type_match("number", "员工有300人", q) == 0.5
    assert type_match("number", "交易量达到430万笔", "一天能做多少笔交易") == 1.0
    assert type_match("number", "覆盖97个国家", "一天能做多少笔交易") == 0.5
    assert type_match("number", "发表二十几篇学术论文", "发表了多少篇论文") == 1.0
    assert type_match("number", "三十余家银行", "有多少家银行") == 1.0
    assert type_match("number", "预期下调近三分之一", "预期往下砍了多少") == 1.0
    assert type_match("number", "占比近三分之一", "占比多少") == 1.0
    assert type_match("number", "基本上两三千是平均价格", "一般得花多少") == 1.0
    assert type_match("number", "拟发行不超过4.5亿股", "计划发行多少股") == 1.0
    assert type_match("number", "募资10亿美元", "计划发行多少股") == 0.5
    assert type_match("when", "于2016年5月加入", "哪一天加入的") == 0.5
    assert type_match("when", "于2016年5月8日加入", "哪一天加入的") == 1.0
    assert expected_unit("营收是多少") is not None and expected_unit("谁是CEO") is None
    assert type_match("what", "他曾任亚马逊的首席云技术顾问", "他在亚马逊做过什么职位") == 1.0
    assert type_match("what", "他曾在亚马逊工作", "他在亚马逊做过什么职位") == 0.0


def test_credit_for_substrings_equivalents_and_gaps() -> None:
    assert credit(["营收"], "营业收入增长") == {"营收": 0.6}
    assert credit(["估值"], "估值达到2.48亿欧元") == {"估值": 1.0}
    assert credit(["首都"], "总部设在北京") == {}
    assert credit(["陆金所"], "陸金所上市") == {"陆金所": 1.0}  # normalised first


def test_focus_words_are_next_to_the_question_word() -> None:
    assert focus_words("李娅云的年薪是多少") == (("年薪", True),)
    assert ("出生", False) in focus_words("周靖人是哪一年出生的")
    assert focus_words("京东科技 IPO") == ()
    assert analyse("天星银行的行政总裁是谁?").focus == (("总裁", True),)
    assert "城市" not in dict(focus_words("双链通最早在哪座城市跑通"))  # the kind of answer


def test_the_gap_patterns_of_question_words_are_kept_within_a_bound() -> None:
    """Each new word of a question compiles a pattern (营收 in 营业收入); a bot asked for
    months meets words without end, so the patterns kept are bounded, as the other caches."""
    words = [chr(0x4E00 + i // 300) + chr(0x5E00 + i % 300) + "行" for i in range(10_000)]
    for word in words:
        credit([word], "海鸥银行发布新产品")
    kept = features._gapped.cache_info().currsize
    assert kept <= 8192  # was one pattern per word ever asked (10,000 here, 0.5 KB each)
    assert credit(["营收"], "营业收入增长") == {"营收": 0.6}


def test_guessed_words_are_read_as_their_parts() -> None:
    assert pieces("宋乐读") == ["宋乐", "乐读"]
    assert pieces("火星") == []  # a dictionary word stays whole


def test_thesaurus_synonyms() -> None:
    assert "北京" in synonyms("首都")
    assert synonyms("不是一个词xyz") == []


def test_a_question_about_before_wants_a_sentence_about_the_past() -> None:
    for asked in ("他之前在哪家银行", "林晓峰以前做什么", "他加入星河前在哪工作", "他来星河之前"):
        assert tells_earlier(asked, "他曾在青松银行工作十年"), asked
        assert not tells_earlier(asked, "他后加入青松银行"), asked
    for told in ("此前他在青松银行", "他历任行长", "青松银行出身"):
        assert tells_earlier("他之前在哪家银行", told), told
    assert not tells_earlier("他现在在哪家银行", "他曾在青松银行工作十年")  # not asked
