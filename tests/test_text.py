"""Normalisation and tokenization."""

from retrieval import normalize, tokenize
from retrieval.question import analyse, answer_type, content_terms


def test_normalize_full_width_case_and_traditional() -> None:
    assert normalize("ＡＢＣ１２３，ＩＰＯ") == "abc123,ipo"
    assert normalize("螞蟻集團的律師事務所") == "蚂蚁集团的律师事务所"
    assert normalize("a\u200bb\x00c") == "abc"


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


def test_traditional_to_simplified_matches_zhconv() -> None:
    """The converter reads zhconv's tables without importing it: same output, longest match."""
    import random

    import zhconv

    from retrieval.text import _traditional_only, to_simplified

    rng = random.Random(4)
    traditional = sorted(_traditional_only())
    samples = ["我幹什麼不干你事。", "張國榮曾在英國大學學習。", "數據中心與雲計算", "", "abc"]
    for _ in range(300):
        chars = list("京东科技计划于2022年在港上市,募资金额为10亿美元")
        for _ in range(rng.randint(1, 8)):
            chars.insert(rng.randrange(len(chars) + 1), rng.choice(traditional))
        samples.append("".join(chars))
    for text in samples:
        assert to_simplified(text) == zhconv.convert(text, "zh-cn")
