"""Normalisation and tokenization."""

from retrieval import normalize, tokenize
from retrieval.question import (
    analyse,
    answer_type,
    asking_part,
    asks,
    content_terms,
    focus_words,
    subject_terms,
    without_guesses,
)
from retrieval.text import is_blank, joined


def test_normalize_full_width_case_and_traditional() -> None:
    assert normalize("ＡＢＣ１２３，ＩＰＯ") == "abc123,ipo"
    assert normalize("螞蟻集團的律師事務所") == "蚂蚁集团的律师事务所"
    assert normalize("a\u200bb\x00c") == "abc"
    assert normalize("他说「好」") == "他说「好」"  # no Traditional-only character: as it is
    assert normalize("他說「好」") == "他说“好”"


def test_blank_is_white_space_and_invisible_format_characters() -> None:
    assert is_blank("") and is_blank(" ") and is_blank(" \u200b\ufeff\u3000\n")
    assert not is_blank("a ") and not is_blank("\u200b好")


def test_tokenize_is_pure_and_shared() -> None:
    text = "京东科技计划于2022年在港IPO,募资10亿至20亿美元。"
    assert tokenize(text) == tokenize(text)
    assert tokenize(text) == [
        "京东",
        "科技",
        "计划",
        "于",
        "2022",
        "年",
        "在",
        "港",
        "ipo",
        "募资",
        "10",
        "亿至",
        "20",
        "亿美元",
    ]


def test_tokenize_drops_punctuation_and_space() -> None:
    assert tokenize("  ,。!? …") == []
    assert tokenize("") == []


def test_tokenize_joins_names_cut_into_pieces() -> None:
    assert "陆金所" in tokenize("陆金所的总收入")
    assert "壹账通" in tokenize("金融壹账通")


def test_only_chinese_characters_that_meet_are_joined() -> None:
    assert joined(["a股", "市"]) == ["a股市"]
    assert joined(["港", "ipo"]) == [] and joined(["港", "5g网络"]) == []


def test_traditional_and_simplified_give_the_same_terms() -> None:
    assert tokenize("陳磊明加入螞蟻集團之前在哪家律師事務所") == tokenize(
        "陈磊明加入蚂蚁集团之前在哪家律师事务所"
    )


def test_answer_types() -> None:
    assert answer_type("京东科技什么时候重启IPO?") == "when"
    assert answer_type("募资多少钱?") == "number"
    assert answer_type("平安集团首席科学家是谁?") == "who"
    assert answer_type("联合约谈蚂蚁的是哪几个部门?") == "list"  # 哪几, not 几个
    assert answer_type("有几个部门参与?") == "number"
    assert answer_type("他认为什么是关键?") == "what"  # 认为什么, not 为什么
    assert answer_type("京东数科更名为什么了?") == "what"  # 更名为 什么
    assert answer_type("这是为什么?") == "why"
    assert answer_type("总部在哪里?") == "where"
    assert answer_type("为什么撤回申请?") == "why"
    assert answer_type("有哪些岗位涨幅最高?") == "list"
    assert answer_type("蚂蚁集团是否上市了?") == "yesno"
    assert answer_type("新平台叫什么?") == "what"


TYPED = {
    "why": ["为何撤回?", "撤回的原因?", "怎么会暂缓上市?", "何故撤回?", "收购的动机?", "收购的目的是?"],
    "when": [
        "何时上市?", "哪年上市?", "哪一年上市?", "哪几年任职?", "哪些年亏损?", "哪天上市?",
        "哪一天上市?", "几月上市?", "几号上市?", "哪个月上市?", "什么时间上市?", "几时上市?",
        "哪个季度盈利?", "上市日期?", "上市的时间点?",
    ],
    "number": [
        "有几家银行?", "市场有多大?", "楼有多高?", "跑道多长?", "要等多久?", "箱子多重?",
        "坏账比例?", "收入占比?", "百分之几的用户?", "估值?", "业务规模?", "交易金额?",
        "离市区多远?",
    ],
    "list": [
        "有哪些银行?", "哪几家银行?", "哪两家银行?", "业务有什么?", "业务都有?",
        "业务包括什么?", "三家银行分别是?",
    ],
    "who": [
        "CEO是谁?", "哪位高管离职?", "什么人投资了?", "哪个人投资了?", "何人投资?",
        "项目负责人是?", "公司创始人是?", "蚂蚁的掌门?",
    ],
    "where": [
        "他是哪里人?", "他是哪儿人?", "总部在哪?", "在什么地方上市?", "何地上市?", "来自何处?",
        "哪个城市上市?", "哪个国家上市?", "哪国上市?", "哪个省的银行?", "哪座城市?", "要去哪?",
        "哪个交易所上市?", "哪家律师事务所代理?", "哪所大学毕业?",
    ],
    "how": ["怎么上市?", "如何上市?", "怎样上市?", "以什么方式上市?", "通过什么上市?", "用什么方法上市?"],
    "yesno": [
        "是否上市?", "是不是上市了?", "有没有上市?", "能不能上市?", "会不会上市?",
        "可不可以上市?", "上市对不对?", "算不算上市?", "上市了吗?", "上市了吗",
    ],
}  # fmt: skip


def test_each_question_word_names_its_answer_type() -> None:
    typed = {q: kind for kind, questions in TYPED.items() for q in questions}
    assert {q: answer_type(q) for q in typed} == typed


def test_keywords_name_what_is_sought_only_when_nothing_asks() -> None:
    for sought in ("费用", "收入", "营收", "利润", "市值", "融资", "募资", "增速", "人数", "数量"):
        assert answer_type("星河科技 2021年 " + sought) == "number", sought
    assert answer_type("星河科技 上市 年份") == "when"
    assert answer_type("星河科技 融资 CEO") == "what"  # the last keyword names it
    assert answer_type("什么是融资?") == "what"  # it asks: the keywords name nothing


def test_colloquial_question_words_ask_the_same() -> None:
    assert answer_type("京东科技啥时候重启IPO?") == "when"
    assert answer_type("蚂蚁为啥暂缓上市?") == "why"
    assert answer_type("这个系统咋做到的?") == "how"
    assert answer_type("他多会儿来的?") == "when"
    assert answer_type("他是啥人?") == "who"


def test_question_words_are_not_query_terms() -> None:
    assert content_terms("京东科技什么时候重启IPO?") == ["京东", "科技", "重启", "ipo"]


def test_follow_up_detection() -> None:
    assert analyse("他是哪一年入选的?").needs_context
    assert analyse("那它呢?").needs_context
    assert not analyse("京东科技什么时候重启IPO?").needs_context
    assert analyse("募资多少?").needs_context  # one term: names nothing specific
    assert not analyse("林晓峰的年薪是多少").needs_context  # two terms


def test_a_question_that_goes_on_from_the_chat_is_a_follow_up() -> None:
    """Chinese opens a follow-up with 那, 其中, 后来 or 这些 without any pronoun, or asks only
    about the other thing (港股那边呢): the chat's subject is left out."""
    for question in (
        "那港股那边呢", "港股呢?", "那合资公司里星河科技占多少股?", "其中达美那几架值多少钱?",
        "后来双方妥协,降到了多少?", "这些基金要封闭多长时间?", "之前在青松银行担任过什么职务？",
    ):  # fmt: skip
        assert analyse(question).needs_context, question
    for question in (
        "星河科技那个CEO林晓峰是哪年入职的?",  # 那个 inside: a description, not the chat
        "哪些银行和星河科技合作过呢?",  # a whole question that ends with 呢
    ):  # fmt: skip
        assert not analyse(question).needs_context, question


PRONOUNS = "他们 她们 它们 他 她 它 该公司 这家公司 那家公司 这家 那家 该 此人 这个人 那个人 对方 前者 后者 这款 这项 那款 这笔 那笔"


def test_a_pronoun_points_back_at_the_chat() -> None:
    for pronoun in PRONOUNS.split():
        query = analyse(pronoun + "在星河科技担任什么职务?")
        assert query.needs_context, pronoun
        assert query.terms == ["星河", "科技", "担任", "职务"], pronoun  # no piece of it
    assert not analyse("其他银行的利润是多少?").needs_context  # 其他: no 他
    assert not analyse("星河科技的吉他手是谁?").needs_context  # 吉他: no 他


def test_what_asks_and_what_is_only_chat() -> None:
    for question in (
        "星河科技上市了?", "星河科技上市了吗", "那星河科技呢", "新平台叫什么", "怎样上市",
        "总部在哪", "CEO是谁", "干啥的", "为何上市", "是否上市", "如何上市", "他",
        "ＣＥＯ是谁？",
    ):  # fmt: skip
        assert asks(question), question
    for chat in ("你好", "谢谢!", "好的"):
        assert not asks(chat), chat


def test_the_words_around_the_question_word() -> None:
    assert focus_words("年薪是多少") == (("年薪", True),)  # the first word of the question
    assert focus_words("年薪多少人民币") == (("人民币", True), ("年薪", True))
    assert focus_words("谁在星河科技担任过职务") == (("星河", True),)  # two places at most
    assert focus_words("星河科技总部在哪个城市") == (("总部", True),)  # 城市: the kind asked
    assert focus_words("星河科技总部在哪") == (("总部", True),)
    assert focus_words("卖了多少股") == ()  # one character says little
    assert focus_words("他担任什么职务") == focus_words("他担任啥职务") == (("担任", False),)
    assert focus_words("星河科技上市了吗") == (("上市", True),)
    assert ("上市", True) in focus_words("星河科技是不是上市了")
    assert "到底" not in dict(focus_words("年薪到底是多少"))  # a stop word


def test_a_pair_with_a_question_or_function_word_is_no_term() -> None:
    assert content_terms("收入是去年的多少倍?") == ["收入", "去年"]
    assert content_terms("监管收紧了怎么办?") == ["监管", "收紧"]
    assert "谁家" not in content_terms("这是谁家的产品?")
    assert content_terms("那蚂蚁呢?") == ["蚂蚁"]
    assert content_terms("蚂蚁集团的CEO") == ["蚂蚁", "集团", "ceo"]


def test_subject_terms_are_names_and_nouns_not_verbs() -> None:
    assert subject_terms("林晓峰辞职后加入了哪家银行?") == ["林晓峰", "银行", "辞职后", "后加入"]


def test_a_hedged_clause_that_asks_is_no_guess() -> None:
    for clause in (
        "我记得是黄什么翔", "好像在哪见过", "好像是谁投的", "好像有多少来着", "好像是几个人",
        "好像不知道怎么回事", "好像不知道为什么", "好像是姓啥来着",
    ):  # fmt: skip
        question = "新来的总经理叫啥?" + clause
        assert without_guesses(question) == question, clause


def test_every_hedge_marks_a_guess() -> None:
    for before in (
        "好像",
        "似乎",
        "貌似",
        "记得",
        "印象",
        "应该",
        "大概",
        "估计",
        "没记错",
        "还是说",
    ):
        assert without_guesses(f"营收多少?{before}100亿?") == "营收多少?", before
    for after in ("左右", "对吧", "对不对", "没错吧", "是吧", "吗"):
        assert without_guesses(f"营收多少?100亿{after}?") == "营收多少?", after


def test_a_guess_is_at_most_guess_chars_long_without_its_hedges() -> None:
    asked = "他在哪家银行工作?"
    for hedge in (
        "没记错", "印象中", "印象里", "记得", "好像", "似乎", "貌似", "应该", "大概", "估计",
        "是不是", "对不对", "还是说",
    ):  # fmt: skip
        assert without_guesses(asked + hedge + "星河大学附属青松银行") == asked, hedge
    assert without_guesses(asked + "星河大学附属青松银行没错吧") == asked
    assert without_guesses(asked + "好像是星河大学附属青松银行吧") == asked  # ten characters
    longer = asked + "好像是星河大学附属青松农商行吧"  # eleven: it adds to the question
    assert without_guesses(longer) == longer


def test_a_guess_before_the_question_keeps_its_words_not_its_value() -> None:
    for value in (
        "2020年", "2020年3月", "2020年3月5日", "3月5日", "3月", "5号", "2020", "三月", "三月五日",
        "去年", "年底", "上半年", "一季度",
    ):  # fmt: skip
        assert without_guesses(f"印象中是{value},它是哪天上市的?") == "印象中是,它是哪天上市的?"
    for value in (
        "10亿元", "10亿", "30%", "三十亿", "几十亿", "100万人", "5倍", "3成", "20个", "30家",
        "5位", "3次", "10条", "5美元", "100块", "3千万", "3千", "5百", "三千人", "五百家",
    ):  # fmt: skip
        assert without_guesses(f"印象中是{value},它募资多少?") == "印象中是,它募资多少?"
    stated = "星河科技去年募资10亿元,今年募资多少?"  # no hedge: a fact, not a guess
    assert without_guesses(stated) == stated
    between = "星河科技去年上市,好像是在港,募资多少?"  # before the clause that asks
    assert without_guesses(between) == between
    # after the first clause that asks, a guess goes though another clause asks after it
    assert without_guesses("它哪年上市?是不是2019年?募资多少?") == "它哪年上市?募资多少?"


def test_the_asking_part_after_a_preamble() -> None:
    asked = "星河科技募资多少?"
    assert asking_part("我看新闻时看到," + asked) == asked  # eight characters: a preamble
    assert asking_part("我看新闻看到," + asked) == ""  # seven
    assert asking_part("我表哥在新闻里看到过," + asked + "是不是十亿?") == asked  # not the guess
    assert asking_part(asked) == ""
    for asked in (
        "有几家银行参与?", "新平台叫什么?", "为何撤回申请?", "怎么做到的?", "如何做到的?",
        "怎样做到的?", "是否已经上市?", "有没有上市?", "新平台叫啥?",
    ):  # fmt: skip
        assert asking_part("我表哥在新闻里看到过," + asked) == asked, asked


def test_traditional_to_simplified_matches_zhconv() -> None:
    """The converter reads zhconv's tables without importing it: same output, longest match."""
    import random

    import zhconv

    from retrieval.text import _traditional_only, to_simplified

    rng = random.Random(4)
    traditional = sorted(_traditional_only())
    samples = ["我幹什麼不干你事。", "張國榮曾在英國大學學習。", "數據中心與雲計算", "", "abc"]
    samples += ["不穀", "么兒", "乾為天", "乾隆年間", "乾淨的房間"]  # phrases of the table
    for _ in range(300):
        chars = list("京东科技计划于2022年在港上市,募资金额为10亿美元")
        for _ in range(rng.randint(1, 8)):
            chars.insert(rng.randrange(len(chars) + 1), rng.choice(traditional))
        samples.append("".join(chars))
    for text in samples:
        assert to_simplified(text) == zhconv.convert(text, "zh-cn")
