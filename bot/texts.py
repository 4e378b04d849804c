"""What the bot says: its commands' menu, help and every fixed reply."""

from telegram import BotCommand

COMMANDS = [
    BotCommand("ask", "提问(群组中使用):/ask 问题"),
    BotCommand("help", "使用说明"),
    BotCommand("reset", "忘记之前的问题,重新开始"),
    BotCommand("about", "资料库的规模与更新时间"),
    BotCommand("start", "介绍与示例问题"),
]

HELP_TEXT = (
    "用法:\n"
    "• 私聊:直接发送问题,例如「星河支付的CEO是谁?」\n"
    "• 追问:可以接着问「他什么时候上任的?」,我会参考你最近的几个问题;/reset 忘记上下文。\n"
    "• 群组:/ask@{username} 问题,或回复我的消息{mention}。\n"
    "• 任意聊天:输入 @{username} 问题,把答案分享给别人。\n"
    "• 答案下的「原文」显示被引用的整段原文,「更多」显示更多相关段落。\n"
    "/about 查看资料库的规模与更新时间。\n\n"
    "答案都摘自资料库中的文章,并注明出处;资料库中没有的,我会直说。"
)
NOT_TEXT = "我只能回答文字问题。请直接用文字发送你的问题,/help 查看用法。"
UNKNOWN_COMMAND = "不认识这个命令。/help 查看用法。"
EMPTY_MESSAGE = "请用文字写下你的问题,例如:星河支付的CEO是谁?"
EMPTY_QUESTION = "请在 /ask 后面写上问题,例如:/ask 星河支付的CEO是谁?"
TOO_LONG = "问题太长了(最多 {limit} 个字符),请缩短后再问。"
TOO_MANY = "提问太频繁了:每分钟最多 {limit} 个问题,请 {seconds} 秒后再试。"
EXPIRED = "这个按钮已过期,请重新提问。"
NO_MORE = "没有更多相关的段落了。"
RESET_DONE = "好的,之前的问题已经忘记了。"
ERROR_TEXT = "抱歉,处理这条消息时出错了,请稍后再试。"
NOT_ADMIN = "抱歉,这个命令只对管理员开放。"
NOT_ALLOWED = "抱歉,这个机器人只在指定的聊天中使用。"
RELOAD_BUSY = "资料库正在更新,请稍后再试。"
NO_FEEDS = "没有配置新闻源(FEEDQA_FEEDS)。"
INLINE_HINT = "输入一个问题,例如:星河支付的CEO是谁?"
