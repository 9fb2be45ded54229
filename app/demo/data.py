"""The demo district 二七区: the nine alliances of 二七教体〔2013〕13号 and invented members.

Lead schools and alliance names are the policy's (DOMAIN.md §1). Member schools, people and
phone numbers are invented for the demo; any likeness to a real person is chance.
"""

DISTRICT = {
    "name": "二七区",
    "code": "erqi",
    "city": "郑州市",
    "aid_centre_name": "二七区学生资助管理中心",
}

DISTRICT_LEADERSHIP = [
    ("王建国", "leader", "区教体局局长"),
    ("李秀兰", "deputy", "区教体局副局长"),
    ("赵立新", "member", "区学生资助管理中心主任"),
    ("孙红梅", "member", "区学生资助管理中心干事"),
]

# (lead school, alliance name, stage, [member schools])
ALLIANCES = [
    (
        "陇西小学",
        "陇西小学教育发展共同体学生资助互助联盟",
        "primary",
        ["建新街小学", "庆丰街小学", "勤劳街小学"],
    ),
    (
        "幸福路小学",
        "幸福路小学教育发展共同体学生资助互助联盟",
        "primary",
        ["民主路小学", "大学路第二小学"],
    ),
    (
        "汝河路小学",
        "汝河路小学教育发展共同体学生资助互助联盟",
        "primary",
        ["齐礼阎小学", "五里堡小学", "长江路小学", "京广路小学"],
    ),
    (
        "淮河东路小学",
        "淮河东路小学教育发展共同体学生资助互助联盟",
        "primary",
        ["兴华街小学", "永安街小学"],
    ),
    (
        "外国语小学",
        "外国语小学教育发展共同体学生资助互助联盟",
        "primary",
        ["嵩山路小学", "政通路小学", "培育小学"],
    ),
    (
        "春晖小学",
        "春晖小学教育发展共同体学生资助互助联盟",
        "primary",
        ["侯寨中心小学", "樱桃沟小学"],
    ),
    (
        "兴华小学",
        "兴华小学教育发展共同体学生资助互助联盟",
        "primary",
        ["福华街小学", "工人路小学", "铭功路小学"],
    ),
    (
        "艺术小学",
        "艺术小学教育发展共同体学生资助互助联盟",
        "primary",
        ["马寨中心小学", "刘胡垌小学"],
    ),
    (
        "七十四中",
        "二七区中学教育发展共同体学生资助互助联盟",
        "middle",
        ["二七区实验中学", "侯寨一中", "马寨一中", "长江路中学"],
    ),
]

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = [
    "建华",
    "丽娟",
    "志强",
    "秀英",
    "海燕",
    "国庆",
    "晓东",
    "春梅",
    "玉兰",
    "文博",
    "静怡",
    "俊杰",
    "红霞",
    "雪梅",
    "宏伟",
    "丹丹",
    "伟东",
    "敏",
    "磊",
    "洁",
]

# Demo accounts: (username, display name, role, where) — "where" names a school or alliance.
USERS = [
    ("admin", "赵立新", "district_admin", None),
    ("lead_longxi", "陈文博", "alliance_lead", "陇西小学教育发展共同体学生资助互助联盟"),
    ("officer_longxi", "孙红霞", "school_officer", "陇西小学"),
    ("teacher_longxi", "刘静怡", "teacher", "陇西小学"),
    ("clerk_longxi", "周晓东", "clerk", "陇西小学"),
    ("officer_xingfu", "郭玉兰", "school_officer", "幸福路小学"),
    ("teacher_xingfu", "马俊杰", "teacher", "幸福路小学"),
]
