"""Source detection: which platform a visit is attributed to, from path, query, UA and Referer."""

from __future__ import annotations

import pytest

from app.links.sources import (
    CANONICAL_SOURCES,
    MAX_HOST_LENGTH,
    MAX_VALUE_LENGTH,
    canonical_source,
    detect_source,
    device_class,
    in_app_browser,
    referrer_host,
)

# Real User-Agents of in-app browsers, as the apps sent them.
IG_ANDROID = (
    "Mozilla/5.0 (Linux; Android 13; SM-S908B Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.5845.163 Mobile Safari/537.36 Instagram "
    "301.0.0.33.110 Android (33/13; 480dpi; 1080x2088; samsung; SM-S908B; b0q; qcom; en_GB; "
    "517986703)"
)
IG_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Instagram 297.0.0.18.109 (iPhone14,5; iOS 16_6; en_US; en; scale=3.00; "
    "1170x2532; 510468404)"
)
FB_ANDROID = (
    "Mozilla/5.0 (Linux; Android 12; SM-A525F Build/SP1A.210812.016; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/115.0.5790.166 Mobile Safari/537.36 "
    "[FB_IAB/FB4A;FBAV/427.0.0.31.63;]"
)
FB_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/442.0.0.44.109;FBBV/546137463;FBDV/iPhone15,2;"
    "FBMD/iPhone;FBSN/iOS;FBSV/17.1.2;FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/80]"
)
FB_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 [FBAN/FBIOS;FBAV/430.0.0.33.110;FBBV/510155616;FBDV/iPad13,1;FBMD/iPad;"
    "FBSN/iPadOS;FBSV/16.6;FBSS/2;FBID/tablet;FBLC/en_US;FBOP/5;FBRV/0]"
)
FB_LITE = (
    "Mozilla/5.0 (Linux; Android 11; TECNO KF6i Build/RP1A.200720.011; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/108.0.5359.128 Mobile Safari/537.36 "
    "[FBAN/EMA;FBLC/en_US;FBAV/339.0.0.10.100;]"
)
MESSENGER_ANDROID = (
    "Mozilla/5.0 (Linux; Android 11; SM-G991B Build/RP1A.200720.012; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/96.0.4664.92 Mobile Safari/537.36 "
    "[FB_IAB/Orca-Android;FBAV/345.0.0.11.115;]"
)
MESSENGER_ANDROID_NEW = (
    "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230805.001; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.5845.172 Mobile Safari/537.36 "
    "[FB_IAB/MESSENGER;FBAV/425.0.0.22.49;]"
)
MESSENGER_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 15_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 [FBAN/MessengerForiOS;FBAV/339.0.0.38.118;FBBV/332118658;"
    "FBDV/iPhone12,1;FBMD/iPhone;FBSN/iOS;FBSV/15.1;FBSS/2;FBID/phone;FBLC/en_US;FBOP/5]"
)
TIKTOK_ANDROID = (
    "Mozilla/5.0 (Linux; Android 12; SM-G973F Build/SP1A.210812.016; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/110.0.5481.153 Mobile Safari/537.36 "
    "musical_ly_2022903030 JsSdk/1.0 NetType/WIFI Channel/googleplay AppName/musical_ly "
    "app_version/29.3.3 ByteLocale/en ByteFullLocale/en Region/US AppId/1233 "
    "Spark/1.2.7-alpha.8 AppVersion/29.3.3 BytedanceWebview/d8a21c6"
)
TIKTOK_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 musical_ly_30.8.0 JsSdk/2.0 NetType/WIFI Channel/App Store "
    "ByteLocale/en Region/US isDarkMode/0 WKWebView/1 RevealType/Dialog BytedanceWebview/d8a21c6"
)
TIKTOK_IOS_TRILL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 trill_31.5.0 JsSdk/2.0 NetType/4G Channel/App Store ByteLocale/ja "
    "Region/JP isDarkMode/1 WKWebView/1"
)
TIKTOK_IOS_CRONET = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 TikTok 28.5.0 rv:285014 (iPhone; iOS 16.3; en_US) Cronet"
)
X_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Twitter for iPhone/9.61"
)
X_ANDROID = (
    "Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.5845.163 Mobile Safari/537.36 TwitterAndroid"
)
LINKEDIN_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 [LinkedInApp]/9.27.3843"
)
LINKEDIN_ANDROID = (
    "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230805.001; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.5845.114 Mobile Safari/537.36 "
    "[LinkedInApp]/4.1.881"
)
PINTEREST_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 [Pinterest/iOS]"
)
PINTEREST_ANDROID = (
    "Mozilla/5.0 (Linux; Android 12; SM-G991B Build/SP1A.210812.016; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/115.0.5790.166 Mobile Safari/537.36 "
    "[Pinterest/Android]"
)
SNAPCHAT_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Snapchat/12.48.0.35 (like Safari/8615.3.12.10.4, panda)"
)
SNAPCHAT_ANDROID = (
    "Mozilla/5.0 (Linux; Android 13; SM-G991B Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.5845.163 Mobile Safari/537.36 "
    "Snapchat/12.49.0.36 (SM-G991B; Android 13#G991BXXU9EWH4#33; gzip; )"
)
THREADS_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Barcelona 289.0.0.15.109 (iPhone15,3; iOS 17_0; en_US; en; "
    "scale=3.00; 1290x2796; 500467744)"
)
THREADS_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/UD1A.230803.041; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/118.0.5993.80 Mobile Safari/537.36 Barcelona "
    "305.0.0.34.110 Android (34/14; 420dpi; 1080x2400; Google/google; Pixel 8; shiba; shiba; "
    "en_US; 541248430)"
)
THREADS_IOS_WITH_INSTAGRAM_TOKEN = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Instagram 307.0.0.34.111 (iPhone15,2; iOS 17_1; en_US; en; "
    "scale=3.00; 1179x2556; 530214446) Barcelona 307.0.0.34.111"
)
TELEGRAM_ANDROID = (
    "Mozilla/5.0 (Linux; Android 13; SM-S911B Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.66 Mobile Safari/537.36 "
    "Telegram-Android/10.2.5 (Samsung SM-S911B; Android 13; SDK 33; AVERAGE)"
)
REDDIT_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Reddit/Version 2023.35.0/Build 1194530/iOS Version 16.6 (Build 20G75)"
)
LINE_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Safari Line/13.16.0"
)
WECHAT_ANDROID = (
    "Mozilla/5.0 (Linux; Android 12; V2118A Build/SP1A.210812.003; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/101.0.4951.74 Mobile Safari/537.36 XWEB/1160065 "
    "MMWEBSDK/20231202 MMWEBID/2247 MicroMessenger/8.0.47.2560(0x28002F35) WeChat/arm64 Weixin "
    "NetType/WIFI Language/zh_CN ABI/arm64"
)

# Ordinary browsers.
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1"
)
SAFARI_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.43 Mobile Safari/537.36"
)
CHROME_ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.43 Safari/537.36"
)
FIREFOX_ANDROID = "Mozilla/5.0 (Android 14; Mobile; rv:120.0) Gecko/120.0 Firefox/120.0"
FIREFOX_ANDROID_TABLET = "Mozilla/5.0 (Android 13; Tablet; rv:120.0) Gecko/120.0 Firefox/120.0"
KINDLE_SILK = (
    "Mozilla/5.0 (Linux; Android 9; KFMAWI) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Silk/120.3.1 like Chrome/120.0.6099.224 Safari/537.36"
)
WINDOWS_PHONE = (
    "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.14977"
)
IE_TABLET_PC = (
    "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; SLCC2; Tablet PC 2.0; rv:11.0) like Gecko"
)


def _case(
    source: str,
    rule: str,
    in_app: str | None,
    *,
    ua: str,
    referer: str = "",
    path: str | None = None,
    query: dict[str, str] | None = None,
    name: str | None = None,
) -> object:
    name = name or f"{source}-from-{referer or query}"
    return pytest.param((path, query or {}, ua, referer), (source, rule, in_app), id=name)


ATTRIBUTION_CASES = [
    # 4. In-app browsers, no referrer (the apps strip it).
    _case("instagram", "in_app", "instagram", ua=IG_ANDROID, name="instagram-android"),
    _case("instagram", "in_app", "instagram", ua=IG_IOS, name="instagram-ios"),
    _case("facebook", "in_app", "facebook", ua=FB_ANDROID, name="facebook-android-fb4a"),
    _case("facebook", "in_app", "facebook", ua=FB_IOS, name="facebook-ios-fbios"),
    _case("facebook", "in_app", "facebook", ua=FB_IPAD, name="facebook-ipad"),
    _case("facebook", "in_app", "facebook", ua=FB_LITE, name="facebook-lite"),
    _case("facebook", "in_app", "messenger", ua=MESSENGER_ANDROID, name="messenger-android-orca"),
    _case("facebook", "in_app", "messenger", ua=MESSENGER_ANDROID_NEW, name="messenger-android"),
    _case("facebook", "in_app", "messenger", ua=MESSENGER_IOS, name="messenger-ios"),
    _case("tiktok", "in_app", "tiktok", ua=TIKTOK_ANDROID, name="tiktok-android"),
    _case("tiktok", "in_app", "tiktok", ua=TIKTOK_IOS, name="tiktok-ios"),
    _case("tiktok", "in_app", "tiktok", ua=TIKTOK_IOS_TRILL, name="tiktok-ios-trill"),
    _case("tiktok", "in_app", "tiktok", ua=TIKTOK_IOS_CRONET, name="tiktok-ios-cronet"),
    _case("x", "in_app", "x", ua=X_IOS, name="x-ios"),
    _case("x", "in_app", "x", ua=X_ANDROID, name="x-android"),
    _case("linkedin", "in_app", "linkedin", ua=LINKEDIN_IOS, name="linkedin-ios"),
    _case("linkedin", "in_app", "linkedin", ua=LINKEDIN_ANDROID, name="linkedin-android"),
    _case("pinterest", "in_app", "pinterest", ua=PINTEREST_IOS, name="pinterest-ios"),
    _case("pinterest", "in_app", "pinterest", ua=PINTEREST_ANDROID, name="pinterest-android"),
    _case("snapchat", "in_app", "snapchat", ua=SNAPCHAT_IOS, name="snapchat-ios"),
    _case("snapchat", "in_app", "snapchat", ua=SNAPCHAT_ANDROID, name="snapchat-android"),
    _case("threads", "in_app", "threads", ua=THREADS_IOS, name="threads-ios"),
    _case("threads", "in_app", "threads", ua=THREADS_ANDROID, name="threads-android"),
    _case(
        "threads",
        "in_app",
        "threads",
        ua=THREADS_IOS_WITH_INSTAGRAM_TOKEN,
        name="threads-wins-over-its-instagram-token",
    ),
    _case("telegram", "in_app", "telegram", ua=TELEGRAM_ANDROID, name="telegram-android"),
    _case("reddit", "in_app", "reddit", ua=REDDIT_IOS, name="reddit-ios"),
    _case("direct", "direct", "line", ua=LINE_IOS, name="line-is-not-a-source-of-ours"),
    _case(
        "other",
        "unknown_referrer",
        "wechat",
        ua=WECHAT_ANDROID,
        referer="https://mp.weixin.qq.com/s/abc",
        name="wechat-with-its-own-referrer",
    ),
    _case(
        "instagram",
        "in_app",
        "instagram",
        ua=IG_IOS,
        referer="https://www.google.com/",
        name="in-app-beats-referrer",
    ),
    # 5. Ordinary browsers with the referrer of every platform.
    _case("instagram", "referrer", None, ua=CHROME_WINDOWS, referer="https://l.instagram.com/"),
    _case("instagram", "referrer", None, ua=SAFARI_IPHONE, referer="https://www.instagram.com/"),
    _case("facebook", "referrer", None, ua=CHROME_ANDROID, referer="https://lm.facebook.com/"),
    _case(
        "facebook",
        "referrer",
        None,
        ua=FIREFOX_LINUX,
        referer="https://l.facebook.com/l.php?u=https%3A%2F%2Fleadlink.example%2F%40anna&h=AT0",
        name="facebook-l-php",
    ),
    _case("facebook", "referrer", None, ua=SAFARI_MAC, referer="https://m.facebook.com/"),
    _case("x", "referrer", None, ua=CHROME_MAC, referer="https://t.co/AbCdEf123"),
    _case("x", "referrer", None, ua=EDGE_WINDOWS, referer="https://x.com/"),
    _case("x", "referrer", None, ua=FIREFOX_ANDROID, referer="https://twitter.com/anna"),
    _case("linkedin", "referrer", None, ua=CHROME_WINDOWS, referer="https://lnkd.in/eAbCd"),
    _case("linkedin", "referrer", None, ua=SAFARI_MAC, referer="https://www.linkedin.com/"),
    _case(
        "linkedin",
        "referrer",
        None,
        ua=CHROME_ANDROID,
        referer="android-app://com.linkedin.android/",
    ),
    _case("youtube", "referrer", None, ua=CHROME_WINDOWS, referer="https://www.youtube.com/"),
    _case("youtube", "referrer", None, ua=CHROME_ANDROID, referer="https://m.youtube.com/"),
    _case("youtube", "referrer", None, ua=SAFARI_IPHONE, referer="https://youtu.be/dQw4w9WgXcQ"),
    _case(
        "youtube",
        "referrer",
        None,
        ua=CHROME_ANDROID,
        referer="android-app://com.google.android.youtube/",
    ),
    _case("pinterest", "referrer", None, ua=CHROME_WINDOWS, referer="https://pin.it/3xAbC"),
    _case("pinterest", "referrer", None, ua=SAFARI_MAC, referer="https://www.pinterest.de/pin/1/"),
    _case("pinterest", "referrer", None, ua=FIREFOX_LINUX, referer="https://www.pinterest.co.uk/"),
    _case("pinterest", "referrer", None, ua=CHROME_ANDROID, referer="android-app://com.pinterest"),
    _case("snapchat", "referrer", None, ua=CHROME_ANDROID, referer="https://www.snapchat.com/"),
    _case("threads", "referrer", None, ua=CHROME_WINDOWS, referer="https://www.threads.net/@anna"),
    _case("threads", "referrer", None, ua=SAFARI_IPHONE, referer="https://l.threads.com/?u=x"),
    _case("reddit", "referrer", None, ua=CHROME_WINDOWS, referer="https://out.reddit.com/t3_1"),
    _case("reddit", "referrer", None, ua=FIREFOX_LINUX, referer="https://old.reddit.com/r/x/"),
    _case(
        "reddit",
        "referrer",
        None,
        ua=CHROME_ANDROID,
        referer="android-app://com.reddit.frontpage/",
    ),
    _case("whatsapp", "referrer", None, ua=CHROME_WINDOWS, referer="https://web.whatsapp.com/"),
    _case("whatsapp", "referrer", None, ua=CHROME_ANDROID, referer="android-app://com.whatsapp/"),
    _case("telegram", "referrer", None, ua=CHROME_WINDOWS, referer="https://web.telegram.org/"),
    _case(
        "telegram",
        "referrer",
        None,
        ua=CHROME_ANDROID,
        referer="android-app://org.telegram.messenger/",
    ),
    _case("tiktok", "referrer", None, ua=CHROME_WINDOWS, referer="https://www.tiktok.com/@anna"),
    _case(
        "tiktok",
        "referrer",
        None,
        ua=CHROME_ANDROID,
        referer="android-app://com.zhiliaoapp.musically/",
    ),
    _case(
        "instagram",
        "referrer",
        None,
        ua=CHROME_ANDROID,
        referer="android-app://com.instagram.android/",
    ),
    _case(
        "facebook",
        "referrer",
        None,
        ua=CHROME_ANDROID,
        referer="android-app://com.facebook.katana/",
    ),
    _case("x", "referrer", None, ua=CHROME_ANDROID, referer="android-app://com.twitter.android/"),
    _case("email", "referrer", None, ua=CHROME_WINDOWS, referer="https://mail.google.com/"),
    _case("email", "referrer", None, ua=EDGE_WINDOWS, referer="https://outlook.live.com/"),
    _case("email", "referrer", None, ua=SAFARI_MAC, referer="https://mail.yahoo.com/"),
    _case(
        "email",
        "referrer",
        None,
        ua=CHROME_ANDROID,
        referer="android-app://com.google.android.gm/",
    ),
    _case(
        "instagram",
        "referrer",
        None,
        ua=CHROME_WINDOWS,
        referer="https://user:pw@L.Instagram.COM:443/path",
        name="referrer-with-userinfo-port-and-capitals",
    ),
    # 6. No referrer: direct. A referrer nobody knows: other.
    _case("direct", "direct", None, ua=CHROME_WINDOWS, name="stripped-referrer-desktop"),
    _case("direct", "direct", None, ua=SAFARI_IPHONE, name="stripped-referrer-iphone"),
    _case("direct", "direct", None, ua="", name="nothing-at-all"),
    _case("other", "unknown_referrer", None, ua=CHROME_WINDOWS, referer="https://www.google.com/"),
    _case("other", "unknown_referrer", None, ua=SAFARI_IPHONE, referer="https://linktr.ee/anna"),
    _case(
        "other",
        "unknown_referrer",
        None,
        ua=CHROME_WINDOWS,
        referer="https://leadlink.example/@anna",
        name="own-host-is-not-known-here",
    ),
    _case(
        "other",
        "unknown_referrer",
        None,
        ua=CHROME_WINDOWS,
        referer="https://instagram.com.evil.example/",
        name="lookalike-prefix",
    ),
    _case(
        "other",
        "unknown_referrer",
        None,
        ua=CHROME_WINDOWS,
        referer="https://notinstagram.com/",
        name="lookalike-suffix",
    ),
    _case(
        "other",
        "unknown_referrer",
        None,
        ua=CHROME_ANDROID,
        referer="android-app://com.example.someapp/",
        name="unknown-android-app",
    ),
    # 2. utm_source, through the aliases and hosts.
    _case("instagram", "utm_source", None, ua=CHROME_WINDOWS, query={"utm_source": "ig"}),
    _case(
        "instagram",
        "utm_source",
        "facebook",
        ua=FB_IOS,
        query={"utm_source": "Instagram"},
        name="utm-beats-in-app",
    ),
    _case("facebook", "utm_source", None, ua=CHROME_WINDOWS, query={"utm_source": "fb"}),
    _case("x", "utm_source", None, ua=CHROME_WINDOWS, query={"utm_source": "twitter"}),
    _case("x", "utm_source", None, ua=SAFARI_IPHONE, query={"utm_source": "tw"}),
    _case("x", "utm_source", None, ua=CHROME_WINDOWS, query={"utm_source": "t.co"}),
    _case("youtube", "utm_source", None, ua=CHROME_WINDOWS, query={"utm_source": "YouTube"}),
    _case("tiktok", "utm_source", None, ua=CHROME_WINDOWS, query={"utm_source": "Tik Tok"}),
    _case(
        "instagram", "utm_source", None, ua=CHROME_WINDOWS, query={"utm_source": "instagram.com"}
    ),
    _case(
        "instagram",
        "utm_source",
        None,
        ua=CHROME_WINDOWS,
        query={"utm_source": "l.instagram.com"},
    ),
    _case("facebook", "utm_source", None, ua=CHROME_WINDOWS, query={"utm_source": "facebook.com"}),
    _case("email", "utm_source", None, ua=CHROME_WINDOWS, query={"utm_source": "newsletter"}),
    _case(
        "instagram",
        "referrer",
        None,
        ua=CHROME_WINDOWS,
        referer="https://l.instagram.com/",
        query={"utm_source": "linktree"},
        name="unknown-utm-falls-through",
    ),
    # 1. Explicit: the path source, then ?src=, override everything.
    _case(
        "instagram",
        "path",
        "facebook",
        ua=FB_ANDROID,
        referer="https://t.co/x",
        path="ig",
        query={"utm_source": "twitter", "fbclid": "IwAR0"},
        name="path-overrides-everything",
    ),
    _case(
        "tiktok",
        "path",
        None,
        ua=CHROME_WINDOWS,
        path="tiktok",
        query={"src": "ig", "utm_source": "instagram"},
        name="path-beats-src-and-utm",
    ),
    _case("x", "path", None, ua=CHROME_WINDOWS, path="TW", name="path-alias-any-case"),
    _case("linkedin", "path", None, ua=CHROME_WINDOWS, path="li"),
    _case("threads", "path", "instagram", ua=IG_IOS, path="th"),
    _case(
        "youtube",
        "src",
        None,
        ua=CHROME_WINDOWS,
        referer="https://l.instagram.com/",
        query={"src": "yt"},
        name="src-beats-referrer",
    ),
    _case(
        "instagram",
        "src",
        None,
        ua=CHROME_WINDOWS,
        query={"src": "ig", "utm_source": "facebook"},
        name="src-beats-utm",
    ),
    _case(
        "instagram",
        "src",
        None,
        ua=CHROME_WINDOWS,
        path="bogus",
        query={"src": "ig"},
        name="unknown-path-falls-through-to-src",
    ),
    _case("direct", "direct", None, ua=CHROME_WINDOWS, path="bogus", name="unknown-path-alone"),
    # 3. Click ids.
    _case(
        "instagram",
        "click_id",
        "instagram",
        ua=IG_ANDROID,
        query={"fbclid": "PAZXh0bgNhZW0CMTEAAaZ"},
        name="fbclid-in-instagram",
    ),
    _case(
        "instagram",
        "click_id",
        None,
        ua=SAFARI_IPHONE,
        referer="https://l.instagram.com/",
        query={"fbclid": "PAZXh0bgNhZW0"},
        name="fbclid-instagram-referrer",
    ),
    _case(
        "threads",
        "click_id",
        "threads",
        ua=THREADS_IOS,
        query={"fbclid": "PAZXh0bgNhZW0"},
        name="fbclid-in-threads",
    ),
    _case(
        "facebook",
        "click_id",
        None,
        ua=CHROME_WINDOWS,
        query={"fbclid": "IwAR2x"},
        name="fbclid-plain",
    ),
    _case(
        "facebook",
        "click_id",
        "messenger",
        ua=MESSENGER_IOS,
        query={"fbclid": "IwAR2x"},
        name="fbclid-in-messenger",
    ),
    _case(
        "facebook",
        "click_id",
        None,
        ua=CHROME_WINDOWS,
        query={"utm_source": "meta", "fbclid": "IwAR2x"},
        name="utm-meta-is-not-a-guess",
    ),
    _case("instagram", "click_id", None, ua=CHROME_WINDOWS, query={"igshid": "MzRlODBiNWFlZA=="}),
    _case("instagram", "click_id", None, ua=SAFARI_IPHONE, query={"igsh": "MWQ1ZGUxMzBkMA=="}),
    _case("tiktok", "click_id", None, ua=CHROME_WINDOWS, query={"ttclid": "E.C.P.abc"}),
    _case(
        "tiktok",
        "click_id",
        "instagram",
        ua=IG_IOS,
        query={"ttclid": "E.C.P.abc"},
        name="click-id-beats-in-app",
    ),
    _case("x", "click_id", None, ua=CHROME_WINDOWS, query={"twclid": "2-abc"}),
    _case("linkedin", "click_id", None, ua=CHROME_WINDOWS, query={"li_fat_id": "d3c4a5"}),
    _case("direct", "direct", None, ua=CHROME_WINDOWS, query={"fbclid": ""}, name="empty-click-id"),
]


Signals = tuple[str | None, dict[str, str], str, str]


@pytest.mark.parametrize(("signals", "expected"), ATTRIBUTION_CASES)
def test_a_visit_is_attributed_to_the_first_deciding_signal(
    signals: Signals, expected: tuple[str, str, str | None]
) -> None:
    attribution = detect_source(*signals)

    assert (attribution.source, attribution.rule, attribution.in_app_browser) == expected
    assert attribution.source in CANONICAL_SOURCES


def test_utm_values_are_kept_with_the_decision() -> None:
    attribution = detect_source(
        None,
        {
            "utm_source": "newsletter",
            "utm_medium": "email",
            "utm_campaign": "spring-gift",
            "utm_content": "button",
        },
        CHROME_WINDOWS,
        "",
    )

    assert attribution.source == "email"
    assert attribution.raw_source == "newsletter"
    assert (attribution.medium, attribution.campaign, attribution.content) == (
        "email",
        "spring-gift",
        "button",
    )


@pytest.mark.parametrize(
    ("path", "query", "raw_source"),
    [
        ("ig", {}, "ig"),
        (None, {"src": "Insta"}, "Insta"),
        (None, {"utm_source": "linktree"}, "linktree"),
        ("bogus", {"src": "ig"}, "ig"),
        ("bogus", {"utm_source": "also-bogus"}, "bogus"),
        (None, {}, None),
    ],
)
def test_the_raw_explicit_value_is_kept_for_the_record(
    path: str | None, query: dict[str, str], raw_source: str | None
) -> None:
    assert detect_source(path, query, CHROME_WINDOWS, "").raw_source == raw_source


@pytest.mark.parametrize(
    ("referer", "host"),
    [
        ("https://www.google.com/search?q=anna", "www.google.com"),
        ("https://linktr.ee/anna", "linktr.ee"),
        ("android-app://com.example.someapp/", "android-app://com.example.someapp"),
        ("https://l.instagram.com/?u=x", "l.instagram.com"),
        ("", None),
    ],
)
def test_the_referrer_host_is_kept(referer: str, host: str | None) -> None:
    assert detect_source(None, {}, CHROME_WINDOWS, referer).referrer_host == host


MEGABYTE = 1_000_000
HOSTILE_VALUES = [
    "\r\nSet-Cookie: admin=1",
    "\x00\x00\x00",
    "x" * MEGABYTE,
    "\r\n" * MEGABYTE,
    "été ☀️ 日本語",
    "\u202eevil\u202c",
    "%00%0d%0a",
    "",
    " ",
]
HOSTILE_REFERERS = [
    "http://",
    "https://",
    "::::",
    "android-app://",
    "android-app://%00",
    "javascript:alert(1)",
    "//example.com/",
    "not a url",
    "https:///path-only",
    "https://exa mple.com/",
    "https://a..b/",
    "http://[::1",
    "http://<script>/",
    "\r\n",
    "https://" + "a" * MEGABYTE,
    "https://l.instagram.com/" + "?" * MEGABYTE,
    "\x00" * MEGABYTE,
]


def _assert_storable(value: str | None, limit: int) -> None:
    if value is not None:
        assert value
        assert len(value) <= limit
        assert not any(ord(char) < 32 or 0x7F <= ord(char) <= 0x9F for char in value)
        assert "\u202e" not in value


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_query_and_path_values_never_raise_and_are_stored_clean(value: str) -> None:
    keys = ("src", "utm_source", "utm_medium", "utm_campaign", "utm_content", "fbclid")
    query = dict.fromkeys(keys, value)
    attribution = detect_source(value, query, value, value)

    assert attribution.source in CANONICAL_SOURCES
    for stored in (
        attribution.medium,
        attribution.campaign,
        attribution.content,
        attribution.raw_source,
    ):
        _assert_storable(stored, MAX_VALUE_LENGTH)
    _assert_storable(attribution.referrer_host, MAX_HOST_LENGTH)


@pytest.mark.parametrize("referer", HOSTILE_REFERERS)
def test_malformed_referrers_never_raise(referer: str) -> None:
    attribution = detect_source(None, {}, CHROME_WINDOWS, referer)

    assert attribution.source in {"direct", "other", "instagram"}
    _assert_storable(attribution.referrer_host, MAX_HOST_LENGTH)


def test_a_referrer_without_a_usable_host_counts_as_direct() -> None:
    for referer in ("http://", "::::", "android-app://", "javascript:alert(1)"):
        attribution = detect_source(None, {}, CHROME_WINDOWS, referer)
        assert (attribution.source, attribution.rule, attribution.referrer_host) == (
            "direct",
            "direct",
            None,
        )


def test_control_characters_are_stripped_from_stored_values() -> None:
    attribution = detect_source(
        "i\x00g",
        {"utm_campaign": "spring\r\nSet-Cookie: admin=1", "utm_medium": "\tsocial\n"},
        CHROME_WINDOWS,
        "",
    )

    assert (attribution.source, attribution.rule) == ("instagram", "path")
    assert attribution.campaign == "springSet-Cookie: admin=1"
    assert attribution.medium == "social"


def test_long_values_are_cut_to_the_stored_length() -> None:
    attribution = detect_source(
        None, {"utm_campaign": "c" * MEGABYTE, "src": "s" * MEGABYTE}, CHROME_WINDOWS, ""
    )

    assert attribution.campaign == "c" * MAX_VALUE_LENGTH
    assert attribution.raw_source == "s" * MAX_VALUE_LENGTH


def test_non_ascii_values_are_kept() -> None:
    attribution = detect_source(
        None, {"utm_campaign": "été ☀️ 日本語"}, SAFARI_IPHONE, "https://Bücher.example/"
    )

    assert attribution.campaign == "été ☀️ 日本語"
    assert (attribution.source, attribution.referrer_host) == ("other", "bücher.example")


def test_only_the_start_of_a_huge_user_agent_is_read() -> None:
    late_token = CHROME_ANDROID + " " + "x" * MEGABYTE + " Instagram 301.0.0.33.110"
    early_token = IG_ANDROID + " " + "x" * MEGABYTE

    assert detect_source(None, {}, late_token, "").source == "direct"
    assert detect_source(None, {}, early_token, "").source == "instagram"


@pytest.mark.parametrize(
    ("alias", "source"),
    [
        ("ig", "instagram"),
        ("IG", "instagram"),
        ("insta", "instagram"),
        ("Instagram", "instagram"),
        ("fb", "facebook"),
        ("FaceBook", "facebook"),
        ("messenger", "facebook"),
        ("tt", "tiktok"),
        ("tik-tok", "tiktok"),
        ("x", "x"),
        ("X", "x"),
        ("tw", "x"),
        ("twitter", "x"),
        ("yt", "youtube"),
        ("you_tube", "youtube"),
        ("li", "linkedin"),
        ("linked-in", "linkedin"),
        ("pin", "pinterest"),
        ("snap", "snapchat"),
        ("th", "threads"),
        ("reddit", "reddit"),
        ("wa", "whatsapp"),
        ("WhatsApp", "whatsapp"),
        ("tg", "telegram"),
        ("email", "email"),
        ("E-Mail", "email"),
        ("newsletter", "email"),
        ("mail", "email"),
        (" ig ", "instagram"),
        ("", None),
        ("   ", None),
        ("meta", None),
        ("google", None),
        ("myspace", None),
        ("igx", None),
        ("ig\r\n", "instagram"),
        ("x" * MEGABYTE, None),
    ],
)
def test_canonical_source_maps_aliases(alias: str, source: str | None) -> None:
    assert canonical_source(alias) == source


@pytest.mark.parametrize("source", CANONICAL_SOURCES)
def test_every_canonical_name_names_itself(source: str) -> None:
    assert canonical_source(source) == source


@pytest.mark.parametrize(
    ("ua", "device"),
    [
        (SAFARI_IPHONE, "mobile"),
        (IG_IOS, "mobile"),
        (CHROME_ANDROID, "mobile"),
        (IG_ANDROID, "mobile"),
        (FIREFOX_ANDROID, "mobile"),
        (WINDOWS_PHONE, "mobile"),
        (SAFARI_IPAD, "tablet"),
        (FB_IPAD, "tablet"),
        (CHROME_ANDROID_TABLET, "tablet"),
        (FIREFOX_ANDROID_TABLET, "tablet"),
        (KINDLE_SILK, "tablet"),
        (CHROME_WINDOWS, "desktop"),
        (SAFARI_MAC, "desktop"),
        (FIREFOX_LINUX, "desktop"),
        (IE_TABLET_PC, "desktop"),
        ("", "desktop"),
        ("curl/8.4.0", "desktop"),
    ],
)
def test_device_class(ua: str, device: str) -> None:
    assert device_class(ua) == device


@pytest.mark.parametrize(
    ("referer", "host"),
    [
        ("https://www.Instagram.com/anna", "www.instagram.com"),
        ("https://l.instagram.com/?u=https%3A%2F%2Fx.example%2F&e=AT0", "l.instagram.com"),
        ("http://user:pw@Example.COM:8080/x", "example.com"),
        ("https://example.com./", "example.com"),
        ("https://example.com#frag", "example.com"),
        ("HTTPS://EXAMPLE.COM?q=1", "example.com"),
        ("android-app://com.linkedin.android/", "android-app://com.linkedin.android"),
        ("android-app://com.google.android.gm", "android-app://com.google.android.gm"),
        ("https://[2001:db8::1]:443/", "[2001:db8::1]"),
        ("https://bücher.example/", "bücher.example"),
        ("https://l.instagram.com\\@evil.example/", "l.instagram.com"),
        ("https://evil.example\\.instagram.com/", "evil.example"),
        ("https://" + "a" * 300 + ".example/", "a" * MAX_HOST_LENGTH),
        ("", None),
        ("http://", None),
        ("::::", None),
        ("android-app://", None),
        ("ftp://example.com/", None),
        ("javascript:alert(1)", None),
        ("//example.com/", None),
        ("example.com", None),
        ("https://exa mple.com/", None),
        ("https://a..b/", None),
        ("http://<script>/", None),
    ],
)
def test_referrer_host(referer: str, host: str | None) -> None:
    assert referrer_host(referer) == host


@pytest.mark.parametrize(
    ("ua", "app"),
    [
        (THREADS_IOS_WITH_INSTAGRAM_TOKEN, "threads"),
        (MESSENGER_ANDROID, "messenger"),
        (LINE_IOS, "line"),
        (WECHAT_ANDROID, "wechat"),
        ("Twitterbot/1.0", None),
        ("Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)", None),
        (
            "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
            None,
        ),
        (CHROME_WINDOWS, None),
        ("", None),
    ],
)
def test_in_app_browser(ua: str, app: str | None) -> None:
    assert in_app_browser(ua) == app
