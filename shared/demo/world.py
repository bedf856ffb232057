"""The demo world: a B2B aerosol-can and tinplate-packaging maker's customers and their history.

Pure and deterministic: `generate(config)` yields one `CustomerStory` at a time (the customer's
create body, its contacts and orders, its complaints with their workflow steps), computed from
`(seed, customer index)` alone, so any size streams in constant memory and the same seed gives
the same world. Every body is already JSON (strings for times and money) in the shape of the
public APIs; only the customer id, which the customer service assigns, is filled in by the
player (`shared.demo.player`). No I/O happens here.

The customers follow the requirement seeds (../shared/requirements.md §1, §4): insecticide and
personal-care aerosol fillers, auto-care and paint brands, beverage makers, battery makers;
first and second tier; about one in ten a key account; the charts' named accounts first (with
our share of their volume), then generated Chinese companies and some export customers.
Each customer has a behaviour (`Behaviour`) that shapes its order rhythm: steady, growing,
drifting (orders slow down and stop), churned, new, won back, or a prospect that never ordered.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

JsonBody = dict[str, Any]


class Behaviour(StrEnum):
    """How a customer's ordering evolves over the history (the truth the scores should find)."""

    STEADY = "steady"
    GROWING = "growing"
    DRIFTING = "drifting"  # orders slow down, then stop shortly before `as_of`
    CHURNED = "churned"  # stopped ordering months ago
    NEW = "new"  # first order within the last months
    WON_BACK = "won_back"  # a long pause, then ordering again
    PROSPECT = "prospect"  # talks, samples, never ordered (e.g. makes its own cans)


# Share of generated customers per behaviour; prospects come from the named accounts mostly.
BEHAVIOUR_WEIGHTS: dict[Behaviour, float] = {
    Behaviour.STEADY: 0.50,
    Behaviour.GROWING: 0.09,
    Behaviour.DRIFTING: 0.15,
    Behaviour.CHURNED: 0.06,
    Behaviour.NEW: 0.10,
    Behaviour.WON_BACK: 0.04,
    Behaviour.PROSPECT: 0.06,
}

# The outcome a complaint's workflow is played towards (the service decides SLA breaches).
Scenario = Literal[
    "closed_on_time",
    "resolved_late",
    "late_first_response",
    "escalated",
    "rejected",
    "reopened",
    "open_overdue",
    "open_recent",
]

SCENARIO_WEIGHTS: dict[str, float] = {
    "closed_on_time": 0.42,
    "resolved_late": 0.13,
    "late_first_response": 0.10,
    "escalated": 0.08,
    "rejected": 0.07,
    "reopened": 0.05,
    "open_overdue": 0.06,
    "open_recent": 0.09,
}
# Scenarios a drifting customer's complaint falls into: the bad experience that starts the drift.
_BAD_SCENARIOS: tuple[Scenario, ...] = ("resolved_late", "escalated", "rejected", "reopened")


@dataclass(frozen=True)
class WorldConfig:
    """What the world is made of. `as_of` ends the history: nothing happens after it."""

    customers: int = 200
    seed: int = 42
    as_of: datetime = datetime(2026, 11, 23, tzinfo=UTC)
    history_days: int = 365

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError("a world needs at least one customer")
        if self.as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware")
        if self.history_days < 60:
            raise ValueError("history_days must be at least 60")

    @property
    def tag(self) -> str:
        """Marks every id of this world (ERP codes, order ids…) so worlds of different seeds
        never collide, and a re-run of the same seed finds its own records again."""
        return f"DW{self.seed}"

    @property
    def start(self) -> datetime:
        return self.as_of - timedelta(days=self.history_days)


@dataclass(frozen=True)
class Activity:
    """One item for the interaction service's `/v1/batch` (kind + body without customer_id).

    `via_ingest` marks contact-center calls: played onto the Kafka ingest topic when the player
    has Kafka, else through HTTP with the same source id (so both paths record it once)."""

    kind: Literal["interaction", "order"]
    at: datetime
    body: JsonBody
    via_ingest: bool = False


@dataclass(frozen=True)
class OrderFollowUp:
    """A cancellation or return against an order placed earlier (its own endpoint)."""

    kind: Literal["cancel", "return"]
    order_id: str
    at: datetime
    body: JsonBody


ComplaintAction = Literal[
    "acknowledge",
    "assign",
    "start",
    "wait-for-customer",
    "resume",
    "escalate",
    "resolve",
    "reopen",
    "close",
    "comments",
    "survey",
]
# Actions that move the complaint to another state (the rest change nothing of the state).
TRANSITIONS: frozenset[str] = frozenset(
    {"acknowledge", "start", "wait-for-customer", "resume", "resolve", "reopen", "close"}
)


@dataclass(frozen=True)
class ComplaintStep:
    """One workflow action: `POST /v1/complaints/{id}/{action}` with `body` (which has `at`).

    `state_after` and `reopens_after` say where the complaint stands after it, so a re-run
    can tell which steps an earlier run already played."""

    action: ComplaintAction
    at: datetime
    body: JsonBody
    state_after: str
    reopens_after: int
    escalations_after: int


@dataclass(frozen=True)
class ComplaintPlan:
    """A complaint's create body (without customer_id) and the steps played on it."""

    external_id: str
    scenario: Scenario
    reported_at: datetime
    body: JsonBody
    steps: tuple[ComplaintStep, ...]

    @property
    def final_state(self) -> str:
        return self.steps[-1].state_after if self.steps else "new"


@dataclass(frozen=True)
class CustomerStory:
    """Everything about one customer, in the order it is played."""

    index: int
    erp: str
    behaviour: Behaviour
    segment: str
    tier: str
    key_account: bool
    body: JsonBody
    activities: tuple[Activity, ...]
    follow_ups: tuple[OrderFollowUp, ...]
    complaints: tuple[ComplaintPlan, ...]
    drift_from: datetime | None = None
    stopped_at: datetime | None = None

    @property
    def orders(self) -> list[Activity]:
        return [a for a in self.activities if a.kind == "order"]

    @property
    def interactions(self) -> list[Activity]:
        return [a for a in self.activities if a.kind == "interaction"]


# --- vocabulary of the maker's market ---------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A product segment: what cans the customer buys, and what a can costs."""

    code: str
    industry: str
    products: tuple[tuple[str, str], ...]  # (product code, description)
    unit_price: tuple[float, float]  # CNY per can (or per battery jacket)
    names_cn: tuple[tuple[str, str], ...]  # industry words in a company name (cn, en)
    season: tuple[float, ...] = (1.0,) * 12  # order-rate multiplier by month (Jan..Dec)


SEGMENTS: dict[str, Segment] = {
    s.code: s
    for s in (
        Segment(
            "insecticide_aerosol",
            "insecticide",
            (("AER-65x158-INS", "杀虫气雾罐 65×158"), ("AER-57x180-INS", "杀虫气雾罐 57×180")),
            (0.82, 1.05),
            (
                ("日化", "Daily Chemical"),
                ("卫生用品", "Hygiene Products"),
                ("精细化工", "Fine Chemical"),
            ),
            # Fillers stock up before the mosquito season: orders peak from February to June.
            (0.6, 1.2, 1.5, 1.7, 1.6, 1.3, 0.9, 0.7, 0.6, 0.6, 0.6, 0.6),
        ),
        Segment(
            "personal_care_aerosol",
            "personal_care",
            (("AER-52x195-PC", "个人护理气雾罐 52×195"), ("AER-45x150-PC", "个护小罐 45×150")),
            (0.95, 1.35),
            (
                ("日用化学品", "Daily Chemicals"),
                ("化妆品", "Cosmetics"),
                ("个人护理用品", "Personal Care"),
            ),
            (1.0, 0.8, 1.0, 1.1, 1.1, 1.0, 1.0, 1.0, 1.1, 1.1, 1.0, 0.9),
        ),
        Segment(
            "auto_care_aerosol",
            "auto_care",
            (
                ("AER-65x240-AUTO", "汽车护理气雾罐 65×240"),
                ("AER-65x195-AUTO", "车用清洗剂罐 65×195"),
            ),
            (1.10, 1.45),
            (("汽车用品", "Auto Care"), ("车用化学品", "Automotive Chemicals")),
        ),
        Segment(
            "paint_aerosol",
            "paint_coatings",
            (("AER-65x158-PNT", "自喷漆罐 65×158"), ("AER-52x205-PNT", "喷漆罐 52×205")),
            (0.90, 1.20),
            (("涂料", "Coatings"), ("喷漆", "Spray Paint"), ("化工涂料", "Paint & Chemicals")),
            (0.8, 0.7, 1.1, 1.2, 1.2, 1.1, 1.0, 1.0, 1.1, 1.1, 1.0, 0.8),
        ),
        Segment(
            "beverage_can",
            "beverage",
            (
                ("BEV-209-330ML", "三片饮料罐 209# 330ml"),
                ("BEV-209-245ML", "三片饮料罐 209# 245ml"),
            ),
            (0.42, 0.60),
            (("饮料", "Beverage"), ("食品饮料", "Food & Beverage"), ("乳业", "Dairy")),
            # Summer drinks and Spring Festival gift boxes.
            (1.3, 0.8, 0.9, 1.1, 1.3, 1.4, 1.3, 1.1, 0.9, 0.8, 1.0, 1.4),
        ),
        Segment(
            "battery_tinplate",
            "battery",
            (("TP-BAT-R20", "印铁电池外壳 R20"), ("TP-BAT-R6", "印铁电池外壳 R6")),
            (0.07, 0.12),
            (("电池", "Battery"), ("电源科技", "Power Technology")),
        ),
        Segment(
            "printed_tinplate",
            "food_packaging",
            (("TP-MISC-PRINT", "印铁杂罐"), ("TP-TEA-TIN", "茶叶罐印铁")),
            (0.35, 0.80),
            (("食品", "Foods"), ("罐头食品", "Canned Foods"), ("包装制品", "Packaging Products")),
        ),
    )
}

SEGMENT_WEIGHTS: dict[str, float] = {
    "insecticide_aerosol": 0.30,
    "personal_care_aerosol": 0.20,
    "auto_care_aerosol": 0.12,
    "paint_aerosol": 0.10,
    "beverage_can": 0.13,
    "battery_tinplate": 0.09,
    "printed_tinplate": 0.06,
}


@dataclass(frozen=True)
class NamedAccount:
    """An account named in the requirement seeds' market charts (volumes in 万罐 a year)."""

    name: str
    name_latin: str
    segments: tuple[str, ...]
    tier: str
    region: str
    total: int
    ours: int
    behaviour: Behaviour


# Charts 2-1…2-6 and the beverage, battery and foreign-firm notes (requirements §1). A share of
# zero is a prospect (e.g. 中山凯达 makes its own cans). 鹤壁天元 with 5 % drifts: the demo's story.
# name | Latin name | segments (short) | tier | region | total | ours | behaviour
_NAMED_TABLE = """
保定枪手 | Baoding Qiangshou | insecticide | first_tier | hebei | 1300 | 1300 | steady
鹤壁天元 | Hebi Tianyuan | insecticide | first_tier | henan | 1600 | 80 | drifting
中山凯达 | Zhongshan Kaida | insecticide | first_tier | guangdong | 1800 | 0 | prospect
庄臣 | SC Johnson | insecticide personal_care | first_tier | shanghai | 1250 | 275 | steady
同大 | Tongda | insecticide | first_tier | zhejiang | 700 | 686 | steady
榄菊 | Lanju | insecticide | first_tier | guangdong | 480 | 288 | growing
宝力杀 | Baolisha | insecticide | first_tier | guangdong | 400 | 0 | prospect
金鹿 | Jinlu | insecticide | first_tier | fujian | 400 | 160 | growing
爱福特 | Aifute | insecticide | first_tier | guangdong | 450 | 180 | steady
拜高 | Baigao | insecticide | first_tier | jiangsu | 200 | 200 | steady
金天 | Jintian | insecticide personal_care | second_tier | zhejiang | 900 | 220 | growing
四川彩虹 | Sichuan Caihong | insecticide | second_tier | sichuan | 200 | 30 | steady
梦达 | Mengda | insecticide | second_tier | guangdong | 200 | 160 | drifting
利高 | Ligao | insecticide | second_tier | jiangsu | 200 | 160 | steady
诛达 | Zhuda | insecticide | second_tier | hunan | 200 | 160 | churned
李字 | Lizi | insecticide | second_tier | guangdong | 200 | 0 | prospect
黑猫 | Heimao | insecticide | second_tier | guangdong | 150 | 150 | steady
三九 | Sanjiu | personal_care insecticide | first_tier | guangdong | 1150 | 200 | steady
华力 | Huali | insecticide | second_tier | zhejiang | 150 | 150 | new
青蛙 | Qingwa | insecticide | second_tier | shandong | 120 | 120 | steady
红梦 | Hongmeng | insecticide | second_tier | jiangxi | 120 | 36 | drifting
彩虹 | Caihong | personal_care | first_tier | sichuan | 2000 | 400 | steady
好迪 | Haodi | personal_care | first_tier | guangdong | 1500 | 0 | prospect
惠州彩虹 | Huizhou Caihong | personal_care | first_tier | guangdong | 600 | 100 | steady
保赐利 | Baocili | auto_care | first_tier | guangdong | 600 | 200 | steady
武汉新南 | Wuhan Xinnan | auto_care | first_tier | hubei | 300 | 80 | won_back
白猫 | Baimao | personal_care | first_tier | shanghai | 200 | 200 | steady
绿之风 | Lvzhifeng | auto_care | second_tier | guangdong | 1800 | 150 | steady
华江 | Huajiang | paint | second_tier | zhejiang | 1200 | 100 | drifting
金江 | Jinjiang | paint | second_tier | fujian | 800 | 0 | prospect
丰泽信 | Fengzexin | auto_care | second_tier | guangdong | 600 | 0 | prospect
小娇娇 | Xiaojiaojiao | personal_care | second_tier | zhejiang | 200 | 50 | steady
美国安利 | Amway | personal_care | foreign | guangdong | 120 | 60 | steady
3M | 3M | auto_care paint | foreign | shanghai | 90 | 45 | growing
椰树 | Yeshu | beverage | first_tier | hainan | 80000 | 0 | prospect
露露 | Lulu | beverage | first_tier | hebei | 35000 | 2400 | steady
娃哈哈 | Wahaha | beverage | first_tier | zhejiang | 18000 | 1500 | drifting
旺旺 | Want Want | beverage | first_tier | shanghai | 5000 | 1200 | steady
蓝田 | Lantian | beverage | first_tier | fujian | 8000 | 8000 | steady
亲亲 | Qinqin | beverage | first_tier | fujian | 6000 | 6000 | steady
银鹭 | Yinlu | beverage | first_tier | fujian | 20000 | 0 | prospect
博卡 | Boka | beverage | second_tier | guangdong | 3000 | 0 | prospect
雀巢 | Nestlé | tinplate | foreign | tianjin | 900 | 120 | steady
"""


_SEGMENT_ALIASES = {
    "insecticide": "insecticide_aerosol",
    "personal_care": "personal_care_aerosol",
    "auto_care": "auto_care_aerosol",
    "paint": "paint_aerosol",
    "beverage": "beverage_can",
    "tinplate": "printed_tinplate",
}


def _named_accounts(table: str) -> tuple[NamedAccount, ...]:
    accounts = []
    for row in table.strip().splitlines():
        name, latin, segments, tier, region, total, ours, behaviour = (
            cell.strip() for cell in row.split("|")
        )
        accounts.append(
            NamedAccount(
                name,
                latin,
                tuple(_SEGMENT_ALIASES[code] for code in segments.split()),
                tier,
                region,
                int(total),
                int(ours),
                Behaviour(behaviour),
            )
        )
    return tuple(accounts)


NAMED_ACCOUNTS: tuple[NamedAccount, ...] = _named_accounts(_NAMED_TABLE)


@dataclass(frozen=True)
class City:
    name: str
    latin: str
    province: str  # the customer's `region`: the province in pinyin
    province_cn: str
    area_code: str  # landline trunk code without the leading 0


CITIES: tuple[City, ...] = (
    City("广州", "Guangzhou", "guangdong", "广东省", "20"),
    City("佛山", "Foshan", "guangdong", "广东省", "757"),
    City("中山", "Zhongshan", "guangdong", "广东省", "760"),
    City("东莞", "Dongguan", "guangdong", "广东省", "769"),
    City("深圳", "Shenzhen", "guangdong", "广东省", "755"),
    City("惠州", "Huizhou", "guangdong", "广东省", "752"),
    City("江门", "Jiangmen", "guangdong", "广东省", "750"),
    City("杭州", "Hangzhou", "zhejiang", "浙江省", "571"),
    City("宁波", "Ningbo", "zhejiang", "浙江省", "574"),
    City("温州", "Wenzhou", "zhejiang", "浙江省", "577"),
    City("金华", "Jinhua", "zhejiang", "浙江省", "579"),
    City("台州", "Taizhou", "zhejiang", "浙江省", "576"),
    City("苏州", "Suzhou", "jiangsu", "江苏省", "512"),
    City("无锡", "Wuxi", "jiangsu", "江苏省", "510"),
    City("常州", "Changzhou", "jiangsu", "江苏省", "519"),
    City("南京", "Nanjing", "jiangsu", "江苏省", "25"),
    City("上海", "Shanghai", "shanghai", "上海市", "21"),
    City("厦门", "Xiamen", "fujian", "福建省", "592"),
    City("泉州", "Quanzhou", "fujian", "福建省", "595"),
    City("福州", "Fuzhou", "fujian", "福建省", "591"),
    City("青岛", "Qingdao", "shandong", "山东省", "532"),
    City("临沂", "Linyi", "shandong", "山东省", "539"),
    City("济南", "Jinan", "shandong", "山东省", "531"),
    City("保定", "Baoding", "hebei", "河北省", "312"),
    City("石家庄", "Shijiazhuang", "hebei", "河北省", "311"),
    City("郑州", "Zhengzhou", "henan", "河南省", "371"),
    City("鹤壁", "Hebi", "henan", "河南省", "392"),
    City("武汉", "Wuhan", "hubei", "湖北省", "27"),
    City("长沙", "Changsha", "hunan", "湖南省", "731"),
    City("成都", "Chengdu", "sichuan", "四川省", "28"),
    City("南昌", "Nanchang", "jiangxi", "江西省", "791"),
    City("合肥", "Hefei", "anhui", "安徽省", "551"),
    City("天津", "Tianjin", "tianjin", "天津市", "22"),
    City("北京", "Beijing", "beijing", "北京市", "10"),
    City("沈阳", "Shenyang", "liaoning", "辽宁省", "24"),
    City("海口", "Haikou", "hainan", "海南省", "898"),
)
# Aerosol filling clusters around the Pearl and Yangtze river deltas: weight those cities.
CITY_WEIGHTS: tuple[float, ...] = tuple(
    {"guangdong": 3.0, "zhejiang": 2.2, "jiangsu": 1.8, "shanghai": 2.0, "fujian": 1.4}.get(
        c.province, 1.0
    )
    for c in CITIES
)

# Syllables for brand names (two of them: 美洁, 康达 …), each with its pinyin.
BRAND_SYLLABLES: tuple[tuple[str, str], ...] = tuple(
    zip(
        "美洁康达华宝金盾绿源蓝天雅丽恒丰嘉诚宏新宇瑞成安利民百佳永泰鑫博凯正阳海纳万家兴盛隆鹏福信德",
        [
            "Mei",
            "Jie",
            "Kang",
            "Da",
            "Hua",
            "Bao",
            "Jin",
            "Dun",
            "Lv",
            "Yuan",
            "Lan",
            "Tian",
            "Ya",
            "Li",
            "Heng",
            "Feng",
            "Jia",
            "Cheng",
            "Hong",
            "Xin",
            "Yu",
            "Rui",
            "Cheng",
            "An",
            "Li",
            "Min",
            "Bai",
            "Jia",
            "Yong",
            "Tai",
            "Xin",
            "Bo",
            "Kai",
            "Zheng",
            "Yang",
            "Hai",
            "Na",
            "Wan",
            "Jia",
            "Xing",
            "Sheng",
            "Long",
            "Peng",
            "Fu",
            "Xin",
            "De",
        ],
        strict=True,
    )
)
COMPANY_FORMS: tuple[tuple[str, str], ...] = (
    ("有限公司", "Co., Ltd."),
    ("股份有限公司", "Co., Ltd."),
    ("实业有限公司", "Industrial Co., Ltd."),
    ("科技有限公司", "Technology Co., Ltd."),
)
SURNAMES: tuple[tuple[str, str], ...] = tuple(
    zip(
        "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高梁郑谢宋唐许邓冯韩曹",
        [
            "wang",
            "li",
            "zhang",
            "liu",
            "chen",
            "yang",
            "huang",
            "zhao",
            "wu",
            "zhou",
            "xu",
            "sun",
            "ma",
            "zhu",
            "hu",
            "guo",
            "he",
            "lin",
            "luo",
            "gao",
            "liang",
            "zheng",
            "xie",
            "song",
            "tang",
            "xu",
            "deng",
            "feng",
            "han",
            "cao",
        ],
        strict=True,
    )
)
GIVEN: tuple[tuple[str, str], ...] = tuple(
    zip(
        "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国文辉鹏玲",
        [
            "wei",
            "fang",
            "na",
            "min",
            "jing",
            "li",
            "qiang",
            "lei",
            "jun",
            "yang",
            "yong",
            "yan",
            "jie",
            "juan",
            "tao",
            "ming",
            "chao",
            "xiu",
            "xia",
            "ping",
            "gang",
            "gui",
            "ying",
            "hua",
            "jian",
            "guo",
            "wen",
            "hui",
            "peng",
            "ling",
        ],
        strict=True,
    )
)
CONTACT_ROLES: tuple[str, ...] = (
    "采购经理",
    "质量经理",
    "生产总监",
    "总经理",
    "采购专员",
    "技术主管",
)


@dataclass(frozen=True)
class ExportMarket:
    country: str
    places: tuple[str, ...]
    calling_code: str
    mobile_prefix: str


EXPORT_MARKETS: tuple[ExportMarket, ...] = (
    ExportMarket("VN", ("Saigon", "Hanoi", "Binh Duong"), "84", "9"),
    ExportMarket("TH", ("Siam", "Bangkok", "Chonburi"), "66", "8"),
    ExportMarket("ID", ("Jakarta", "Nusantara", "Surabaya"), "62", "81"),
    ExportMarket("MY", ("Penang", "Selangor", "Johor"), "60", "12"),
    ExportMarket("IN", ("Mumbai", "Gujarat", "Chennai"), "91", "98"),
    ExportMarket("AE", ("Gulf", "Emirates", "Sharjah"), "971", "50"),
    ExportMarket("NG", ("Lagos", "Niger Delta", "Kano"), "234", "80"),
)
EXPORT_WORDS: tuple[str, ...] = ("Aerosol", "Home Care", "Chem", "Pack", "Paints", "Cosmetics")
EXPORT_FORMS: tuple[str, ...] = ("Co., Ltd.", "Industries", "Sdn. Bhd.", "Pvt. Ltd.", "LLC")

ACCOUNT_MANAGERS: tuple[str, ...] = (
    "wang.lei",
    "li.na",
    "zhang.wei",
    "chen.jing",
    "liu.yang",
    "zhao.min",
    "sun.tao",
    "zhou.hui",
)
HOTLINE_AGENTS: tuple[str, ...] = tuple(f"cc.agent{n:02d}" for n in range(1, 13))
COMPLAINT_HANDLERS: dict[str, tuple[str, str]] = {
    # category → (handler, team)
    "product_quality": ("qa.zhou", "quality"),
    "delivery": ("log.huang", "logistics"),
    "service": ("cs.sun", "customer_service"),
    "billing": ("fin.ma", "finance"),
}

# Contact channels: (channel, direction, base rate per week for a regular customer, source system).
# Inbound phone calls reach the contact-center hotline (the Kafka ingest path).
CHANNELS: tuple[tuple[str, str, float, str], ...] = (
    ("phone", "outbound", 0.08, "sales-desk"),
    ("phone", "inbound", 0.05, "cc-hotline"),
    ("email", "inbound", 0.05, "mail-gateway"),
    ("email", "outbound", 0.05, "mail-gateway"),
    ("wechat", "inbound", 0.06, "wecom"),
    ("wechat", "outbound", 0.04, "wecom"),
    ("web_chat", "inbound", 0.01, "web-portal"),
    ("visit", "outbound", 0.012, "sales-desk"),
    ("meeting", "outbound", 0.005, "sales-desk"),
)
SUBJECTS: dict[str, tuple[str, ...]] = {
    "phone": (
        "交期确认",
        "询价：下季度用量",
        "订单跟进",
        "发票与对账",
        "新品打样进度",
        "质量反馈回访",
    ),
    "email": ("报价单", "图稿确认（印铁）", "月度对账单", "检测报告", "交货计划", "规格书更新"),
    "wechat": ("到货确认", "补货询问", "样罐寄送", "交期变更", "节日问候"),
    "web_chat": ("在线咨询：罐型规格", "在线咨询：最小起订量", "资料下载"),
    "visit": ("客户拜访：季度业务回顾", "现场技术支持：灌装线调试", "工厂审核陪同"),
    "meeting": ("年度供应协议谈判", "高层互访", "联合质量改进会议"),
    "sms": ("发货通知",),
}
DRIFT_SUBJECTS: tuple[str, ...] = (
    "竞争对手报价更低",
    "本月暂不下单",
    "客户要求降价",
    "采购转向其他供应商",
)
OUTCOMES: dict[str, tuple[str, ...]] = {
    "inbound": ("answered", "resolved", "follow_up", "quoted", "order_confirmed"),
    "outbound": ("reached", "follow_up", "quoted", "sample_sent", "no_answer", "meeting_booked"),
}

# Complaint kinds: (category, subcategory, weight, severities, title, corrective action).
COMPLAINT_KINDS: tuple[tuple[str, str | None, float, tuple[str, ...], str, str], ...] = (
    (
        "product_quality",
        "leakage",
        0.20,
        ("high", "critical", "high", "medium"),
        "气雾罐卷边处泄漏，灌装后保压不合格",
        "调整封口机卷边参数，加严出厂气密抽检",
    ),
    (
        "product_quality",
        "valve_pressure",
        0.12,
        ("high", "medium", "critical"),
        "阀门封口不良，耐压测试不合格",
        "更换封口模具，耐压测试改为每班首检",
    ),
    (
        "product_quality",
        "coating_printing_defect",
        0.15,
        ("medium", "low", "medium"),
        "印铁图案套印偏差、涂层附着力差",
        "校准印刷套准，增加涂层附着力划格测试",
    ),
    (
        "product_quality",
        "dents_deformation",
        0.12,
        ("low", "medium"),
        "罐身凹瘪变形，影响灌装线上料",
        "改进托盘包装与堆码方式，加装护角",
    ),
    (
        "product_quality",
        "dimensions",
        0.05,
        ("medium", "high"),
        "罐口尺寸超差，阀门无法装配",
        "复核模具尺寸，首件全尺寸检验",
    ),
    (
        "delivery",
        "late",
        0.18,
        ("medium", "high"),
        "到货延迟，客户灌装线停线待料",
        "排产优先级调整，安全库存提高至两周",
    ),
    (
        "delivery",
        "wrong_quantity",
        0.08,
        ("medium", "low"),
        "数量短缺：到货少于订单数量",
        "发货前双人复核件数，扫码出库",
    ),
    (
        "delivery",
        "damaged",
        0.05,
        ("low", "medium"),
        "运输途中罐体受损",
        "更换物流承运商并加固包装",
    ),
    (
        "service",
        None,
        0.03,
        ("low", "medium"),
        "业务员回复不及时",
        "设立客户专属对接人与 24 小时回复要求",
    ),
    ("billing", None, 0.02, ("low",), "发票金额与订单不符", "开票前与订单系统自动核对"),
)
REJECTION_CAUSES: tuple[tuple[str, str], ...] = (
    ("misuse", "经现场核查，客户灌装压力超出罐体规格，属使用不当"),
    ("expectation", "产品符合双方签订的技术标准，客户期望超出约定规格"),
)
SURVEY_COMMENTS: dict[int, tuple[str, ...]] = {
    1: ("处理太慢，影响了我们的生产", "问题反复出现，非常失望"),
    2: ("响应慢，希望改进", "解决方案不够彻底"),
    3: ("问题已解决，但过程较长",),
    4: ("处理及时，谢谢", "满意"),
    5: ("响应迅速，非常专业", "非常满意，感谢团队支持"),
}

# SLA budgets per severity in wall-clock hours (the complaint service's defaults: critical runs
# 24×7, the others on 8-hour business days). "On time" stays well inside them on the wall clock
# (business time never runs faster than the wall clock); "late" goes far beyond them even
# counting only business hours (40 of 168 hours a week, plus public holidays).
SLA_HOURS: dict[str, tuple[float, float]] = {
    "critical": (1, 8),
    "high": (4, 16),
    "medium": (8, 40),
    "low": (16, 80),
}
_BUSINESS_TO_WALL = 168 / 40


# --- generation -------------------------------------------------------------------------------


def generate(config: WorldConfig) -> Iterator[CustomerStory]:
    """Every customer's story in index order; each from its own random stream, so the world
    is the same for the same seed and any size needs only one story in memory at a time."""
    for index in range(config.customers):
        yield story(config, index)


def named_account(index: int) -> NamedAccount | None:
    """The seeds' named account at customer `index`, if any: every fourth customer until the
    list runs out, so they do not depend on the world's size and mix with generated ones."""
    if index % 4 == 0 and index // 4 < len(NAMED_ACCOUNTS):
        return NAMED_ACCOUNTS[index // 4]
    return None


def story(config: WorldConfig, index: int) -> CustomerStory:
    """The story of customer `index` (0-based), independent of every other customer."""
    rng = random.Random(f"demo-world:{config.seed}:{index}")
    return _StoryBuilder(config, index, rng).build()


def _choice_weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _money(value: float) -> str:
    return str(Decimal(str(round(value, 2))).quantize(Decimal("0.01")))


def _working_time(rng: random.Random, moment: datetime) -> datetime:
    """`moment` moved onto a Chinese working day, 09:00–18:00 Beijing time (01–10 UTC)."""
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    while day.weekday() >= 5:  # Saturday, Sunday → next Monday
        day += timedelta(days=1)
    return day + timedelta(hours=1 + rng.random() * 9)


@dataclass
class _Company:
    name: str
    name_latin: str | None
    region: str
    city: str
    province_cn: str
    country: str
    phones: list[str]
    domain: str
    contacts: list[JsonBody] = field(default_factory=list)


class _StoryBuilder:
    """Builds one customer's story from one random stream (all randomness is drawn here)."""

    def __init__(self, config: WorldConfig, index: int, rng: random.Random) -> None:
        self.config = config
        self.index = index
        self.rng = rng
        self.erp = f"{config.tag}-{index + 1:07d}"

    # -- the customer ------------------------------------------------------------------------

    def build(self) -> CustomerStory:
        rng = self.rng
        named = named_account(self.index)
        export = named is None and rng.random() < 0.06
        if named is not None:
            segments = list(named.segments)
            tier, behaviour = named.tier, named.behaviour
            share = named.ours / named.total if named.total else 0.0
            annual_cans = named.ours * 10_000.0
            key_account = named.tier in ("first_tier", "foreign") and named.ours >= 150
        else:
            segments = [_choice_weighted(rng, SEGMENT_WEIGHTS)]
            if rng.random() < 0.12:  # some fill for two markets (e.g. insecticide + personal care)
                other = _choice_weighted(rng, SEGMENT_WEIGHTS)
                if other not in segments:
                    segments.append(other)
            tier = "first_tier" if rng.random() < 0.22 else "second_tier"
            if export:
                tier = "export"
            behaviour = Behaviour(
                _choice_weighted(rng, {b.value: w for b, w in BEHAVIOUR_WEIGHTS.items()})
            )
            # Key accounts: about one customer in ten, mostly first-tier brands (requirements §1).
            key_account = behaviour is not Behaviour.PROSPECT and rng.random() < (
                0.22 if tier == "first_tier" else 0.02
            )
            share = (
                round(rng.uniform(0.05, 0.95), 2) if behaviour is not Behaviour.PROSPECT else 0.0
            )
            scale = 3.0 if key_account else (1.5 if tier == "first_tier" else 0.6)
            annual_cans = rng.lognormvariate(math.log(1_500_000 * scale), 0.6)
            if behaviour is Behaviour.PROSPECT:
                annual_cans = 0.0
        segment = segments[0]
        company = self._export_company() if export else self._company(named, segment)
        owner = ACCOUNT_MANAGERS[rng.randrange(len(ACCOUNT_MANAGERS))]
        stage = self._stage(key_account, behaviour)

        plan = _Rhythm.plan(rng, self.config, behaviour, key_account, tier, segment)
        body: JsonBody = {
            "kind": "organisation",
            "name": company.name,
            "phones": company.phones,
            "emails": [f"purchasing@{company.domain}"],
            "contacts": company.contacts,
            "addresses": [self._address(company)],
            "region": company.region,
            "industry": SEGMENTS[segment].industry,
            "segments": segments,
            "external_ids": {"erp": self.erp},
            "tags": self._tags(segments, key_account, export, behaviour),
            "owner": owner,
            "key_account": key_account,
            "tier": tier,
            "credit_grade": rng.choice(("AAA", "AA", "AA", "A", "A", "BBB", "BB")),
            "share_of_volume": round(share, 3),
            "consent": {
                "marketing_email": rng.random() < 0.7,
                "marketing_sms": rng.random() < 0.3,
                "marketing_phone": rng.random() < 0.5,
                "marketing_wechat": rng.random() < 0.6,
                "data_sharing": False,
            },
            "customer_since": _iso(plan.customer_since),
        }
        if company.name_latin:
            body["name_latin"] = company.name_latin
        if stage is not None:
            body["relationship_stage"] = stage
        if named is not None and named.ours == 0 and named.total:
            body["notes"] = f"年用量约 {named.total} 万罐，目前未向我司采购。"

        orders = self._orders(plan, segments, annual_cans)
        complaints, returns = self._complaints(plan, orders, owner, key_account, behaviour)
        contacts = self._contacts(plan, owner, key_account, complaints)
        cancels = self._cancellations(orders)
        activities = sorted(
            [*orders, *contacts, *self._shipping_notices(orders)], key=lambda a: a.at
        )
        return CustomerStory(
            index=self.index,
            erp=self.erp,
            behaviour=behaviour,
            segment=segment,
            tier=tier,
            key_account=key_account,
            body=body,
            activities=tuple(activities),
            follow_ups=tuple(sorted([*cancels, *returns], key=lambda f: f.at)),
            complaints=tuple(complaints),
            drift_from=plan.drift_from,
            stopped_at=plan.stop_at,
        )

    def _person(self) -> tuple[str, str]:
        surname, surname_py = self.rng.choice(SURNAMES)
        given = self.rng.sample(GIVEN, self.rng.choice((1, 2, 2)))
        return surname + "".join(g for g, _ in given), "".join(
            p for _, p in given
        ) + "." + surname_py

    def _mobile(self) -> str:
        prefix = self.rng.choice(("135", "136", "138", "139", "150", "158", "186", "189", "177"))
        return f"{prefix}{self.rng.randrange(10**8):08d}"

    def _company(self, named: NamedAccount | None, segment: str) -> _Company:
        rng = self.rng
        if named is not None:
            in_province = [c for c in CITIES if c.province == named.region] or [CITIES[0]]
            city = next((c for c in in_province if named.name.startswith(c.name)), in_province[0])
            slug = "".join(ch for ch in named.name_latin.lower() if ch.isascii() and ch.isalnum())
            name, latin = named.name, named.name_latin
        else:
            city = rng.choices(CITIES, weights=CITY_WEIGHTS)[0]
            (a, a_py), (b, b_py) = rng.sample(BRAND_SYLLABLES, 2)
            word, word_en = rng.choice(SEGMENTS[segment].names_cn)
            form, form_en = rng.choice(COMPANY_FORMS)
            prefix = city.name + ("市" if rng.random() < 0.5 else "")
            name = f"{prefix}{a}{b}{word}{form}"
            latin = f"{city.latin} {a_py}{b_py.lower()} {word_en} {form_en}"
            slug = f"{a_py}{b_py}".lower() + city.latin[:2].lower()
        domain = f"{slug or 'customer'}{self.index % 97}.example.cn"
        landline = f"0{city.area_code}-{rng.randrange(2_000_000, 9_000_000)}"
        company = _Company(
            name=name,
            name_latin=latin,
            region=city.province,
            city=city.name,
            province_cn=city.province_cn,
            country="CN",
            phones=[landline],
            domain=domain,
        )
        for role in rng.sample(CONTACT_ROLES, rng.choice((1, 2, 2, 3))):
            person, person_py = self._person()
            contact: JsonBody = {
                "name": person,
                "role": role,
                "phones": [self._mobile()],
                "emails": [f"{person_py}@{domain}"],
            }
            if rng.random() < 0.6:
                contact["wechat_ids"] = [f"wx_{person_py.replace('.', '_')}{rng.randrange(100)}"]
            company.contacts.append(contact)
        return company

    def _export_company(self) -> _Company:
        rng = self.rng
        market = rng.choice(EXPORT_MARKETS)
        place = rng.choice(market.places)
        word = rng.choice(EXPORT_WORDS)
        form = rng.choice(EXPORT_FORMS)
        slug = "".join(ch for ch in f"{place}{word}".lower() if ch.isalnum())
        domain = f"{slug}{self.index % 97}.example.com"
        number = f"+{market.calling_code}{market.mobile_prefix}{rng.randrange(10**7, 10**8)}"
        first = rng.choice(
            ("Anh", "Somchai", "Budi", "Aisha", "Ravi", "Omar", "Chinedu", "Mei Ling")
        )
        last = rng.choice(
            ("Nguyen", "Srisuk", "Santoso", "Rahman", "Patel", "Haddad", "Okafor", "Tan")
        )
        slug_person = f"{first}.{last}".lower().replace(" ", "")
        return _Company(
            name=f"{place} {word} {form}",
            name_latin=None,
            region="export",
            city=place,
            province_cn="",
            country=market.country,
            phones=[number],
            domain=domain,
            contacts=[
                {
                    "name": f"{first} {last}",
                    "role": "Procurement Manager",
                    "phones": [number],
                    "emails": [f"{slug_person}@{domain}"],
                }
            ],
        )

    def _address(self, company: _Company) -> JsonBody:
        if company.country != "CN":
            return {
                "label": "plant",
                "line": f"Lot {self.rng.randrange(1, 300)}, {company.city} Industrial Estate",
                "city": company.city,
                "country": company.country,
            }
        road = self.rng.choice(
            ("工业大道", "科技东路", "开发区创业路", "港口路", "环城北路", "民营工业园")
        )
        return {
            "label": "plant",
            "line": f"{company.city}{road}{self.rng.randrange(1, 400)}号",
            "city": company.city,
            "province": company.province_cn,
            "postcode": f"{self.rng.randrange(100000, 860000)}",
            "country": "CN",
        }

    def _stage(self, key_account: bool, behaviour: Behaviour) -> str | None:
        if behaviour is Behaviour.PROSPECT:
            return None
        if key_account:
            return self.rng.choice(("preferred_supplier", "partner", "partner", "alliance"))
        return self.rng.choice(("vendor", "vendor", "vendor", "preferred_supplier"))

    @staticmethod
    def _tags(
        segments: Sequence[str], key_account: bool, export: bool, behaviour: Behaviour
    ) -> list[str]:
        tags = ["aerosol" if s.endswith("_aerosol") else s for s in segments]
        if key_account:
            tags.append("key_account")
        if export:
            tags.append("export")
        if behaviour is Behaviour.PROSPECT:
            tags.append("prospect")
        return list(dict.fromkeys(tags))

    # -- orders --------------------------------------------------------------------------------

    def _orders(self, plan: _Rhythm, segments: Sequence[str], annual_cans: float) -> list[Activity]:
        if plan.interval_days is None or annual_cans <= 0:
            return []
        rng = self.rng
        cans_per_order = annual_cans * plan.interval_days / 365.0
        orders: list[Activity] = []
        for number, at in enumerate(plan.order_times(rng), start=1):
            growth = plan.amount_factor(at)
            lines: list[JsonBody] = []
            amount = 0.0
            for segment_code in segments[: rng.choice((1, 1, 2))]:
                segment = SEGMENTS[segment_code]
                product, _ = rng.choice(segment.products)
                # Cans come in pallets of 2,000 or so; round to them.
                quantity = max(
                    2000, round(cans_per_order * growth * rng.lognormvariate(0, 0.3) / 2000) * 2000
                )
                price = round(rng.uniform(*segment.unit_price), 3)
                amount += quantity * price
                lines.append(
                    {
                        "product_code": product,
                        "segment": segment_code,
                        "quantity": str(quantity),
                        "unit_price": f"{price:.3f}",
                    }
                )
            order_id = f"SO-{self.erp}-{number:05d}"
            orders.append(
                Activity(
                    kind="order",
                    at=at,
                    body={
                        "order_id": order_id,
                        "lines": lines,
                        "amount": _money(amount),
                        "currency": "CNY",
                        "ordered_at": _iso(at),
                        "source_system": "erp",
                    },
                )
            )
        return orders

    def _shipping_notices(self, orders: Sequence[Activity]) -> list[Activity]:
        notices = []
        for order in orders:
            at = order.at + timedelta(days=self.rng.uniform(3, 9))
            if at >= self.config.as_of or self.rng.random() > 0.25:
                continue
            notices.append(
                self._interaction(
                    at,
                    "sms",
                    "outbound",
                    "logistics",
                    f"发货通知：{order.body['order_id']}",
                    "delivered",
                    sentiment=None,
                    source="sms-gateway",
                    external_id=f"{order.body['order_id']}-sms",
                )
            )
        return notices

    def _cancellations(self, orders: Sequence[Activity]) -> list[OrderFollowUp]:
        cancels = []
        for order in orders:
            if self.rng.random() >= 0.015:
                continue
            at = order.at + timedelta(hours=self.rng.uniform(4, 60))
            if at >= self.config.as_of:
                continue
            order_id = order.body["order_id"]
            cancels.append(
                OrderFollowUp(
                    kind="cancel",
                    order_id=order_id,
                    at=at,
                    body={
                        "reason": self.rng.choice(("客户调整生产计划", "规格变更，重新下单")),
                        "cancelled_at": _iso(at),
                    },
                )
            )
        return cancels

    # -- contacts ------------------------------------------------------------------------------

    def _interaction(
        self,
        at: datetime,
        channel: str,
        direction: str,
        agent: str,
        subject: str,
        outcome: str,
        *,
        sentiment: float | None,
        source: str,
        external_id: str,
    ) -> Activity:
        rng = self.rng
        duration = {
            "phone": int(rng.uniform(60, 900)),
            "visit": int(rng.uniform(3600, 10800)),
            "meeting": int(rng.uniform(3600, 7200)),
            "web_chat": int(rng.uniform(120, 1200)),
        }.get(channel)
        body: JsonBody = {
            "channel": channel,
            "direction": direction,
            "agent": agent,
            "subject": subject,
            "outcome": outcome,
            "occurred_at": _iso(at),
            "source_system": source,
            "external_id": external_id,
        }
        if duration is not None:
            body["duration_s"] = duration
        if sentiment is not None:
            body["sentiment"] = round(max(-1.0, min(1.0, sentiment)), 2)
        return Activity(kind="interaction", at=at, body=body, via_ingest=source == "cc-hotline")

    def _contacts(
        self, plan: _Rhythm, owner: str, key_account: bool, complaints: Sequence[ComplaintPlan]
    ) -> list[Activity]:
        rng = self.rng
        contacts: list[Activity] = []
        start, end = plan.contact_start, self.config.as_of
        boost = 2.5 if key_account else 1.0
        bad_times = [c.reported_at for c in complaints]
        candidates: list[tuple[datetime, str, str, str]] = []
        for channel, direction, rate, source in CHANNELS:
            weekly = (
                rate * boost * (4.0 if channel in ("visit", "meeting") and key_account else 1.0)
            )
            t = start
            while True:
                t += timedelta(days=rng.expovariate(weekly / 7.0))
                if t >= end:
                    break
                candidates.append((t, channel, direction, source))
        for number, (raw_at, channel, direction, source) in enumerate(sorted(candidates), start=1):
            activity = plan.contact_activity(raw_at, inbound=direction == "inbound")
            if rng.random() > activity:
                continue
            at = _working_time(rng, raw_at)
            if at >= end:
                continue
            near_complaint = any(timedelta(0) <= at - b <= timedelta(days=14) for b in bad_times)
            sentiment = plan.sentiment(at) + rng.gauss(0, 0.2) - (0.45 if near_complaint else 0.0)
            subject = rng.choice(SUBJECTS[channel])
            if plan.drift_from is not None and at > plan.drift_from and rng.random() < 0.3:
                subject = rng.choice(DRIFT_SUBJECTS)
            agent = (
                HOTLINE_AGENTS[rng.randrange(len(HOTLINE_AGENTS))]
                if source == "cc-hotline"
                else owner
            )
            contacts.append(
                self._interaction(
                    at,
                    channel,
                    direction,
                    agent,
                    subject,
                    rng.choice(OUTCOMES[direction]),
                    sentiment=sentiment,
                    source=source,
                    # Numbered, never timed: a re-run at another `as_of` keeps the same ids.
                    external_id=f"{self.erp}-c{number:05d}",
                )
            )
        return contacts

    # -- complaints ----------------------------------------------------------------------------

    def _complaints(
        self,
        plan: _Rhythm,
        orders: Sequence[Activity],
        owner: str,
        key_account: bool,
        behaviour: Behaviour,
    ) -> tuple[list[ComplaintPlan], list[OrderFollowUp]]:
        rng = self.rng
        if not orders:
            return [], []
        expected = (0.45 if key_account else 0.18) * (self.config.history_days / 365)
        times: list[tuple[datetime, bool]] = []
        t = orders[0].at
        last_order = orders[-1].at
        while True:
            t += timedelta(days=rng.expovariate(expected / self.config.history_days))
            if t >= min(last_order + timedelta(days=20), self.config.as_of):
                break
            times.append((t, False))
        if last_order > self.config.as_of - timedelta(days=60) and rng.random() < 0.12:
            # A complaint just in: the complaint board always has some fresh ones.
            times.append((self.config.as_of - timedelta(hours=rng.uniform(2, 70)), False))
        if behaviour is Behaviour.DRIFTING and plan.drift_from is not None:
            # The bad experience that starts the drift.
            times.append((plan.drift_from - timedelta(days=rng.uniform(5, 30)), True))
        complaints: list[ComplaintPlan] = []
        returns: list[OrderFollowUp] = []
        for number, (raw_at, bad) in enumerate(sorted(times), start=1):
            reported = _working_time(rng, raw_at)
            if reported >= self.config.as_of:
                reported = raw_at  # a line stopping on a Sunday is reported on the Sunday
            if reported >= self.config.as_of or reported < orders[0].at:
                continue
            recent = self.config.as_of - reported
            scenario: Scenario
            if bad:
                scenario = rng.choice(_BAD_SCENARIOS)
            elif recent < timedelta(days=4):
                scenario = "open_recent"
            else:
                scenario = _choice_weighted(rng, SCENARIO_WEIGHTS)  # type: ignore[assignment]
                if scenario == "open_recent":
                    scenario = "closed_on_time"
            complaint, follow_up = self._complaint(number, reported, scenario, orders, owner)
            complaints.append(complaint)
            if follow_up is not None:
                returns.append(follow_up)
        return complaints, returns

    def _complaint(
        self,
        number: int,
        reported: datetime,
        scenario: Scenario,
        orders: Sequence[Activity],
        owner: str,
    ) -> tuple[ComplaintPlan, OrderFollowUp | None]:
        rng = self.rng
        kinds = COMPLAINT_KINDS
        category, subcategory, _, severities, title, action = rng.choices(
            kinds, weights=[k[2] for k in kinds]
        )[0]
        severity = rng.choice(severities)
        if scenario == "escalated" and severity in ("low", "medium"):
            severity = "high"
        earlier = [o for o in orders if o.at < reported]
        order_id: str | None = earlier[-1].body["order_id"] if earlier else None
        external_id = f"CMP-{self.erp}-{number:03d}"
        batch = f"批次 {reported.strftime('%y%m')}-{rng.randrange(1, 40):02d}"
        body: JsonBody = {
            "category": category,
            "severity": severity,
            "channel": rng.choice(("phone", "phone", "email", "wechat", "visit")),
            "title": f"{title}（{batch}）",
            "description": f"客户反馈：{title}。涉及{batch}，订单 {order_id or '无'}。",
            "external_id": external_id,
            "reported_at": _iso(reported),
        }
        if subcategory is not None:
            body["subcategory"] = subcategory
        if order_id is not None and category in ("product_quality", "delivery"):
            body["order_id"] = order_id
        steps = _ComplaintScript(
            rng, self.config.as_of, reported, severity, scenario, category, action
        ).steps(owner)
        follow_up: OrderFollowUp | None = None
        resolve = next((s for s in steps if s.action == "resolve"), None)
        if (
            resolve is not None
            and resolve.body.get("validity") == "upheld"
            and category == "product_quality"
            and order_id is not None
            and rng.random() < 0.5
        ):
            order = next(o for o in earlier if o.body["order_id"] == order_id)
            returned = float(order.body["amount"]) * rng.uniform(0.03, 0.25)
            follow_up = OrderFollowUp(
                kind="return",
                order_id=order_id,
                at=resolve.at,
                body={
                    "return_id": f"RT-{external_id}",
                    "amount": _money(returned),
                    "reason": f"质量投诉退货：{title}",
                    "returned_at": _iso(resolve.at),
                },
            )
        plan = ComplaintPlan(
            external_id=external_id, scenario=scenario, reported_at=reported, body=body, steps=steps
        )
        return plan, follow_up


class _ComplaintScript:
    """The workflow steps of one complaint towards its scenario, cut off at `as_of`."""

    def __init__(
        self,
        rng: random.Random,
        as_of: datetime,
        reported: datetime,
        severity: str,
        scenario: Scenario,
        category: str,
        corrective_action: str,
    ) -> None:
        self.rng = rng
        self.as_of = as_of
        self.at = reported
        self.severity = severity
        self.scenario = scenario
        self.category = category
        self.corrective_action = corrective_action
        self.state = "new"
        self.reopens = 0
        self.escalations = 0
        self.out: list[ComplaintStep] = []
        self.cut = False

    def _on_time(self, budget_h: float) -> timedelta:
        return timedelta(hours=budget_h * self.rng.uniform(0.1, 0.7))

    def _late(self, budget_h: float) -> timedelta:
        return timedelta(hours=budget_h * _BUSINESS_TO_WALL * self.rng.uniform(1.6, 3.0) + 200)

    def _step(
        self, action: ComplaintAction, after: timedelta, state: str | None = None, **fields: Any
    ) -> None:
        if self.cut:
            return
        at = self.at + after
        if at >= self.as_of:
            self.cut = True  # the rest lies in the future: the complaint stays where it is
            return
        self.at = at
        if state is not None:
            self.state = state
        if action == "reopen":
            self.reopens += 1
        if action == "escalate":
            self.escalations += 1
        self.out.append(
            ComplaintStep(
                action=action,
                at=at,
                body={"at": _iso(at), **fields},
                state_after=self.state,
                reopens_after=self.reopens,
                escalations_after=self.escalations,
            )
        )

    def _resolve(self, after: timedelta, *, rejected: bool = False) -> None:
        if rejected:
            cause, action = self.rng.choice(REJECTION_CAUSES)
            self._step(
                "resolve",
                after,
                "resolved",
                validity="rejected",
                root_cause=cause,
                corrective_action=action,
            )
            return
        cause = {"product_quality": "quality", "delivery": "delivery"}.get(self.category, "service")
        self._step(
            "resolve",
            after,
            "resolved",
            validity="upheld",
            root_cause=cause,
            corrective_action=self.corrective_action,
        )

    def _survey(self, good: bool) -> None:
        rng = self.rng
        if rng.random() < 0.15:
            self._step("survey", timedelta(hours=rng.uniform(2, 72)), skipped=True)
            return
        score = rng.choice((4, 5, 5, 4, 3)) if good else rng.choice((1, 2, 2, 3))
        self._step(
            "survey",
            timedelta(hours=rng.uniform(2, 72)),
            score=score,
            comment=rng.choice(SURVEY_COMMENTS[score]),
        )

    def steps(self, owner: str) -> tuple[ComplaintStep, ...]:
        rng = self.rng
        first_h, resolve_h = SLA_HOURS[self.severity]
        handler, team = COMPLAINT_HANDLERS.get(self.category, (owner, "sales"))
        scenario = self.scenario
        if scenario == "open_recent":
            # Somewhere early in the workflow; the complaint board shows these.
            depth = rng.choice((0, 1, 2, 3))
            if depth >= 1:
                self._step("acknowledge", self._on_time(first_h), "acknowledged")
            if depth >= 2:
                self._step(
                    "assign", timedelta(minutes=rng.uniform(5, 60)), assignee=handler, team=team
                )
                self._step("start", timedelta(hours=rng.uniform(0.5, 6)), "in_progress")
            if depth >= 3:
                self._step(
                    "wait-for-customer", timedelta(hours=rng.uniform(1, 10)), "waiting_customer"
                )
            return tuple(self.out)
        late_first = scenario == "late_first_response"
        self._step(
            "acknowledge",
            self._late(first_h) if late_first else self._on_time(first_h),
            "acknowledged",
        )
        if self.severity in ("high", "critical") or scenario in ("escalated", "open_overdue"):
            # Serious ones get a named handler; the rest stay with the team's queue.
            self._step("assign", timedelta(minutes=rng.uniform(5, 90)), assignee=handler, team=team)
        self._step("start", timedelta(hours=rng.uniform(0.5, 3)), "in_progress")
        if scenario == "open_overdue":
            self._step(
                "comments",
                timedelta(hours=rng.uniform(2, 24)),
                body="已安排质量工程师现场取样分析，等待实验室结果。",
            )
            return tuple(self.out)  # left in progress: the SLA check breaches and escalates it
        if rng.random() < 0.12:
            self._step("wait-for-customer", timedelta(hours=rng.uniform(1, 8)), "waiting_customer")
            self._step("resume", timedelta(hours=rng.uniform(4, 48)), "in_progress")
        if scenario == "escalated":
            self._step(
                "escalate",
                timedelta(hours=rng.uniform(1, 6)),
                reason="客户要求管理层介入，灌装线受影响",
            )
            if rng.random() < 0.4:
                self._step(
                    "escalate",
                    timedelta(hours=rng.uniform(2, 12)),
                    reason="问题未控制，升级至总经理",
                )
        late = scenario == "resolved_late"
        self._resolve(
            self._late(resolve_h) if late else self._on_time(resolve_h * 0.8),
            rejected=scenario == "rejected",
        )
        if scenario == "reopened":
            self._step(
                "reopen",
                timedelta(days=rng.uniform(2, 20)),
                "reopened",
                reason="同批次再次出现同样问题",
            )
            self._step("start", timedelta(hours=rng.uniform(1, 8)), "in_progress")
            self._resolve(timedelta(hours=resolve_h * rng.uniform(0.3, 1.5)))
        good = scenario in ("closed_on_time", "late_first_response") or (
            scenario == "escalated" and rng.random() < 0.4
        )
        self._survey(good)
        if scenario in ("resolved_late", "late_first_response"):
            # Left resolved (awaiting the customer's confirmation): a closed complaint is never
            # checked again, so closing it at once would hide the breach from the SLA check.
            return tuple(self.out)
        self._step("close", timedelta(days=rng.uniform(1, 7)), "closed")
        return tuple(self.out)


@dataclass(frozen=True)
class _Rhythm:
    """A customer's ordering rhythm over the history, and how active it is at each moment."""

    config: WorldConfig
    behaviour: Behaviour
    segment: str
    interval_days: float | None  # None: never orders
    first_order: datetime
    customer_since: datetime
    contact_start: datetime
    drift_from: datetime | None = None
    stop_at: datetime | None = None
    pause: tuple[datetime, datetime] | None = None

    @staticmethod
    def plan(
        rng: random.Random,
        config: WorldConfig,
        behaviour: Behaviour,
        key_account: bool,
        tier: str,
        segment: str,
    ) -> _Rhythm:
        start, end = config.start, config.as_of
        span = timedelta(days=config.history_days)
        if key_account:
            interval = rng.uniform(9, 16)
        elif tier == "first_tier":
            interval = rng.uniform(14, 28)
        else:
            interval = rng.uniform(24, 50)
        since = start - timedelta(days=rng.uniform(365, 365 * 12))
        first = start + timedelta(days=rng.uniform(0, interval))
        common: dict[str, Any] = {
            "config": config,
            "behaviour": behaviour,
            "segment": segment,
            "interval_days": interval,
            "first_order": first,
            "customer_since": since,
            "contact_start": start,
        }
        if behaviour is Behaviour.PROSPECT:
            common |= {"interval_days": None, "customer_since": end - span * rng.uniform(0.2, 1.0)}
            common["contact_start"] = common["customer_since"]
        elif behaviour is Behaviour.NEW:
            # From midnight: the first order that day (in working hours) is never before it.
            since_new = (end - timedelta(days=rng.uniform(25, 110))).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
            common |= {
                "customer_since": since_new,
                "contact_start": since_new - timedelta(days=rng.uniform(20, 60)),
                "first_order": since_new + timedelta(days=rng.uniform(0, 5)),
            }
        elif behaviour is Behaviour.DRIFTING:
            # Silent for a while by now, measured in the customer's own rhythm, yet recently
            # enough that most still count as at risk rather than lost (the scorer calls a
            # customer churned after max(3 usual intervals, 90 days) of silence).
            stop = end - timedelta(days=rng.uniform(20, 45) + 0.5 * interval)
            common |= {"stop_at": stop, "drift_from": stop - timedelta(days=rng.uniform(100, 160))}
        elif behaviour is Behaviour.CHURNED:
            stop = end - timedelta(days=rng.uniform(150, 300))
            common |= {"stop_at": stop, "drift_from": stop - timedelta(days=rng.uniform(30, 60))}
        elif behaviour is Behaviour.WON_BACK:
            resume = end - timedelta(days=rng.uniform(40, 90))
            common["pause"] = (resume - timedelta(days=rng.uniform(120, 200)), resume)
        return _Rhythm(**common)

    def _slowdown(self, at: datetime) -> float:
        """How much longer the gaps between orders are at `at` (1 = the usual rhythm)."""
        if self.drift_from is None or at <= self.drift_from:
            factor = 1.0
        else:
            months = (at - self.drift_from).days / 30.0
            # Gaps double within two weeks of drifting and keep stretching: ×3 after a
            # month, ×6 after two (so a weekly buyer orders every six weeks, then stops).
            factor = (1.0 + months) ** 1.6
        if self.behaviour is Behaviour.GROWING:
            progress = (at - self.config.start) / (self.config.as_of - self.config.start)
            factor *= 1.0 - 0.35 * progress
        return factor

    def amount_factor(self, at: datetime) -> float:
        """Order size relative to the usual at `at`: growing customers buy more, drifting less."""
        progress = (at - self.config.start) / (self.config.as_of - self.config.start)
        if self.behaviour is Behaviour.GROWING:
            return 0.8 + 0.6 * progress
        if self.drift_from is not None and at > self.drift_from:
            return max(0.35, 1.0 - (at - self.drift_from).days / 200.0)
        return 1.0

    def order_times(self, rng: random.Random) -> Iterator[datetime]:
        assert self.interval_days is not None
        season = SEGMENTS[self.segment].season
        t = self.first_order
        while t < self.config.as_of and (self.stop_at is None or t < self.stop_at):
            in_pause = self.pause is not None and self.pause[0] <= t < self.pause[1]
            if in_pause and self.pause is not None:
                t = self.pause[1] + timedelta(days=rng.uniform(0, 5))
                continue
            at = _working_time(rng, t)
            if at < self.config.as_of and (self.stop_at is None or at < self.stop_at):
                yield at
            usual = timedelta(days=self.interval_days / season[t.month - 1])
            usual *= rng.lognormvariate(0, 0.25)
            # Stretched by the slowdown where the next order would fall, so the drift shows
            # from the first order after it began.
            t += usual * self._slowdown(t + usual)

    def contact_activity(self, at: datetime, *, inbound: bool) -> float:
        """Probability a contact at `at` happens: drifting customers call and write less; our
        account managers keep calling (outbound), even after a customer stopped ordering."""
        if at < self.contact_start:
            return 0.0
        if self.behaviour is Behaviour.NEW and at < self.first_order:
            return 0.5
        quiet = self.drift_from is not None and at > self.drift_from
        if self.pause is not None and self.pause[0] <= at < self.pause[1]:
            quiet = True
        if not quiet:
            return 1.0
        if not inbound:
            return 0.6
        if self.stop_at is not None and at > self.stop_at:
            return 0.1
        assert self.drift_from is not None or self.pause is not None
        begin = self.drift_from if self.drift_from is not None else self.pause[0]  # type: ignore[index]
        until = self.stop_at or self.config.as_of
        return max(0.15, 1.0 - (at - begin) / max(until - begin, timedelta(days=1)))

    def sentiment(self, at: datetime) -> float:
        if self.drift_from is not None and at > self.drift_from:
            return 0.2 - min(0.6, (at - self.drift_from).days / 200.0)
        return 0.35


def summary(stories: Sequence[CustomerStory]) -> dict[str, int]:
    """Counts over some stories (for reports and tests)."""
    counts = {
        "customers": len(stories),
        "key_accounts": sum(s.key_account for s in stories),
        "interactions": sum(len(s.interactions) for s in stories),
        "orders": sum(len(s.orders) for s in stories),
        "complaints": sum(len(s.complaints) for s in stories),
        "follow_ups": sum(len(s.follow_ups) for s in stories),
    }
    for behaviour in Behaviour:
        counts[f"behaviour_{behaviour.value}"] = sum(s.behaviour is behaviour for s in stories)
    return counts
