"""Bots, link previews and prefetches are served the page but never counted as visits."""

from __future__ import annotations

import random

import pytest
from crawlerdetect import CrawlerDetect
from starlette.datastructures import Headers

from app.links.bots import is_bot, is_prefetch, preview_fetcher
from app.links.sources import in_app_browser

# What the services send when someone pastes a link into a post, chat or message.
PREVIEW_FETCHERS = [
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "facebook"),
    ("facebookcatalog/1.0", "facebook"),
    ("Facebot", "facebook"),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) "
        "Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
        "imessage",
    ),
    ("Twitterbot/1.0", "x"),
    (
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        "linkedin",
    ),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "slack"),
    ("Slack-ImgProxy (+https://api.slack.com/robots)", "slack"),
    ("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", "discord"),
    ("WhatsApp/2.23.20.0 A", "whatsapp"),
    ("WhatsApp/2.21.12.21 i", "whatsapp"),
    ("TelegramBot (like TwitterBot)", "telegram"),
    ("Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)", "pinterest"),
    ("Mozilla/5.0 (compatible; redditbot/1.0; +http://www.reddit.com/feedback)", "reddit"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "google"),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, "
        "like Gecko) Chrome/119.0.6045.199 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
        "+http://www.google.com/bot.html)",
        "google",
    ),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bing"),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
        "apple",
    ),
    (
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 "
        "skype-url-preview@microsoft.com",
        "skype",
    ),
    (
        "Mozilla/5.0 (compatible; Snap URL Preview Service; bot; snapchat; "
        "https://developers.snap.com/robots)",
        "snapchat",
    ),
    ("Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)", "embedly"),
    ("Mozilla/5.0 (compatible; vkShare; +http://vk.com/dev/Share)", "vk"),
    ("Iframely/1.3.1 (+https://iframely.com/docs/about)", "iframely"),
    ("http.rb/5.1.1 (Mastodon/4.2.1; +https://mastodon.social/)", "mastodon"),
    ("Mozilla/5.0 (compatible; Bluesky Cardyb/1.1; +mailto:support@bsky.app)", "bluesky"),
    ("facebookexternalhit/1.1;line-poker/1.0", "line"),
]

# Crawlers and scripts that are no preview fetcher but no visitor either.
OTHER_BOTS = [
    "curl/8.4.0",
    "Wget/1.21.4",
    "python-requests/2.31.0",
    "python-httpx/0.25.1",
    "Go-http-client/1.1",
    "okhttp/4.11.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.6099.28 Safari/537.36",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    # A bot that also claims to be Instagram's in-app browser is still a bot.
    "Mozilla/5.0 (compatible; AhrefsBot/7.0) Instagram 301.0.0.33.110",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) HeadlessChrome Mobile/15E148 Instagram 297.0.0.18.109",
    "",
    "   ",
    "curl/8.4.0 " + "x" * 1_000_000,
]

# People: every in-app browser, and ordinary browsers.
HUMANS = [
    "Mozilla/5.0 (Linux; Android 13; SM-S908B Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.5845.163 Mobile Safari/537.36 Instagram "
    "301.0.0.33.110 Android (33/13; 480dpi; 1080x2088; samsung; SM-S908B; b0q; qcom; en_GB; "
    "517986703)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Instagram 297.0.0.18.109 (iPhone14,5; iOS 16_6; en_US; en; "
    "scale=3.00; 1170x2532; 510468404)",
    "Mozilla/5.0 (Linux; Android 12; SM-A525F Build/SP1A.210812.016; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/115.0.5790.166 Mobile Safari/537.36 "
    "[FB_IAB/FB4A;FBAV/427.0.0.31.63;]",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/442.0.0.44.109;FBBV/546137463;FBDV/iPhone15,2;"
    "FBMD/iPhone;FBSN/iOS;FBSV/17.1.2;FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/80]",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230805.001; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.5845.172 Mobile Safari/537.36 "
    "[FB_IAB/MESSENGER;FBAV/425.0.0.22.49;]",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 15_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 [FBAN/MessengerForiOS;FBAV/339.0.0.38.118;FBBV/332118658;"
    "FBDV/iPhone12,1;FBMD/iPhone;FBSN/iOS;FBSV/15.1;FBSS/2;FBID/phone;FBLC/en_US;FBOP/5]",
    "Mozilla/5.0 (Linux; Android 12; SM-G973F Build/SP1A.210812.016; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/110.0.5481.153 Mobile Safari/537.36 "
    "musical_ly_2022903030 JsSdk/1.0 NetType/WIFI Channel/googleplay AppName/musical_ly "
    "app_version/29.3.3 ByteLocale/en ByteFullLocale/en Region/US AppId/1233 "
    "Spark/1.2.7-alpha.8 AppVersion/29.3.3 BytedanceWebview/d8a21c6",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 musical_ly_30.8.0 JsSdk/2.0 NetType/WIFI Channel/App Store "
    "ByteLocale/en Region/US isDarkMode/0 WKWebView/1 RevealType/Dialog BytedanceWebview/d8a21c6",
    # crawlerdetect alone calls this one a crawler ("Cronet" contains "cron").
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 TikTok 28.5.0 rv:285014 (iPhone; iOS 16.3; en_US) Cronet",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Twitter for iPhone/9.61",
    "Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.5845.163 Mobile Safari/537.36 TwitterAndroid",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 [LinkedInApp]/9.27.3843",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230805.001; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.5845.114 Mobile Safari/537.36 "
    "[LinkedInApp]/4.1.881",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 [Pinterest/iOS]",
    "Mozilla/5.0 (Linux; Android 12; SM-G991B Build/SP1A.210812.016; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/115.0.5790.166 Mobile Safari/537.36 "
    "[Pinterest/Android]",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Snapchat/12.48.0.35 (like Safari/8615.3.12.10.4, panda)",
    "Mozilla/5.0 (Linux; Android 13; SM-G991B Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.5845.163 Mobile Safari/537.36 "
    "Snapchat/12.49.0.36 (SM-G991B; Android 13#G991BXXU9EWH4#33; gzip; )",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Barcelona 289.0.0.15.109 (iPhone15,3; iOS 17_0; en_US; en; "
    "scale=3.00; 1290x2796; 500467744)",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/UD1A.230803.041; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/118.0.5993.80 Mobile Safari/537.36 Barcelona "
    "305.0.0.34.110 Android (34/14; 420dpi; 1080x2400; Google/google; Pixel 8; shiba; shiba; "
    "en_US; 541248430)",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.66 Mobile Safari/537.36 "
    "Telegram-Android/10.2.5 (Samsung SM-S911B; Android 13; SDK 33; AVERAGE)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Reddit/Version 2023.35.0/Build 1194530/iOS Version 16.6 (Build 20G75)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Safari Line/13.16.0",
    # A Cubot phone in Instagram: crawlerdetect's exclusions keep "bot" in "CUBOT" harmless.
    "Mozilla/5.0 (Linux; Android 12; KINGKONG 7 Build/SP1A.210812.016; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.66 Mobile Safari/537.36 Instagram "
    "309.0.0.40.113 Android (31/12; 320dpi; 720x1472; CUBOT; KINGKONG 7; KINGKONG_7; mt6765; "
    "en_US; 541635890)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.43 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) GSA/290.0.579312323 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Android 14; Mobile; rv:120.0) Gecko/120.0 Firefox/120.0",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1",
]


@pytest.mark.parametrize(("ua", "service"), PREVIEW_FETCHERS)
def test_link_previews_are_named_and_not_visits(ua: str, service: str) -> None:
    assert preview_fetcher(ua) == service
    assert is_bot(ua)


@pytest.mark.parametrize("ua", OTHER_BOTS)
def test_crawlers_and_scripts_are_not_visits(ua: str) -> None:
    assert is_bot(ua)
    assert preview_fetcher(ua) is None


@pytest.mark.parametrize("ua", HUMANS)
def test_people_are_visits(ua: str) -> None:
    assert not is_bot(ua)
    assert preview_fetcher(ua) is None


def _mixed_user_agents() -> list[str]:
    """Browser tokens and crawler fragments spliced together: where a fast matcher could slip."""
    fragments = [
        "Mozilla/5.0 ",
        "(Windows NT 10.0; Win64; x64) ",
        "AppleWebKit/537.36 (KHTML, like Gecko) ",
        "Chrome/120.0.0.0 ",
        "Safari/537.36",
        "Build/TP1A ",
        "Linux; ",
        "bot",
        "Bot/",
        "crawl",
        "Cron",
        "Reader ",
        "curl",
        "Java/1.8",
        "Ruby/3",
        "PTST/12",
        "Yandex",
        "YandexSearch/",
        "Mail/",
        "git/2",
        "Y!J-ABC",
        "Java x outbrain",
        "Go 1.2 package http",
        "NewsBlur Feed Finder",
        "Sitemaps Generator",
        "cubot",
        "Zend\\Http\\Client",
        "Ünïcödé ",
    ]
    generator = random.Random(20241122)
    return [
        "".join(generator.choice(fragments) for _ in range(generator.randint(1, 6)))
        for _ in range(400)
    ]


def test_bots_are_what_crawlerdetect_says_they_are() -> None:
    """Outside in-app browsers and named preview fetchers, crawlerdetect's answer is the count."""
    detector = CrawlerDetect()
    user_agents = [
        ua
        for ua in [*OTHER_BOTS, *HUMANS, *_mixed_user_agents()]
        if ua.strip()
        and len(ua) <= 1024  # crawlerdetect itself takes minutes on the megabyte one
        and in_app_browser(ua) is None
        and preview_fetcher(ua) is None
    ]

    disagreements = [ua for ua in user_agents if is_bot(ua) != detector.is_crawler(ua)]

    assert disagreements == []
    assert any(is_bot(ua) for ua in user_agents)
    assert not all(is_bot(ua) for ua in user_agents)


@pytest.mark.parametrize(
    ("headers", "prefetch"),
    [
        ({"sec-purpose": "prefetch"}, True),
        ({"Sec-Purpose": "prefetch;prerender"}, True),
        ({"sec-purpose": "prefetch; anonymous-client-ip"}, True),
        ({"purpose": "prefetch"}, True),
        ({"Purpose": "Prefetch"}, True),
        ({"x-moz": "prefetch"}, True),
        ({"X-Moz": "prefetch"}, True),
        ({"x-purpose": "preview"}, True),
        ({"X-Purpose": "preview"}, True),
        ({}, False),
        ({"sec-purpose": ""}, False),
        ({"sec-purpose": "prefetchx"}, False),
        ({"purpose": "navigate"}, False),
        ({"sec-fetch-mode": "navigate", "sec-fetch-dest": "document"}, False),
        ({"sec-purpose": "x" * 1_000_000}, False),
    ],
)
def test_prefetches_are_not_visits(headers: dict[str, str], prefetch: bool) -> None:
    assert is_prefetch(headers) is prefetch


@pytest.mark.parametrize(
    ("raw", "prefetch"),
    [
        ([(b"sec-purpose", b"prefetch;prerender")], True),
        ([(b"purpose", b"prefetch")], True),
        ([(b"accept", b"text/html"), (b"user-agent", b"Mozilla/5.0")], False),
    ],
)
def test_prefetches_are_read_from_starlette_headers(
    raw: list[tuple[bytes, bytes]], prefetch: bool
) -> None:
    assert is_prefetch(Headers(raw=raw)) is prefetch
